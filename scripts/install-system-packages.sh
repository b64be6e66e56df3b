#!/usr/bin/env bash
# Install the Debian 12 packages Shuying needs, in two sets:
#   runtime  what `shuying demo`, ingest and serve need (make demo; a production machine)
#   test     runtime plus what only the tests need (make test, make lint, CI)
# Usage: scripts/install-system-packages.sh [--list] [runtime|test]   (default: runtime)
# --list prints the set, one package a line, and installs nothing. Idempotent; run as root.
# Python libraries, libvips included (pyvips-binary), come from pip: see setup.cfg.
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive

runtime=(
  python3-venv                   # make creates .venv with `python3 -m venv` (ensurepip is not in Debian's python3)
  tesseract-ocr                  # OCR engine (pipeline/ocr/tesseract.py), through pytesseract
  tesseract-ocr-osd              # page orientation: image_to_osd in pipeline/orientation.py
  # One model per language pipeline/languages.py reads (tests/test_install_split.py checks the list):
  tesseract-ocr-chi-tra          # 古籍 in traditional characters (lzh, zh-Hant), horizontal
  tesseract-ocr-chi-tra-vert     # ... read vertically: the default for woodblock books
  tesseract-ocr-chi-sim          # zh-Hans
  tesseract-ocr-chi-sim-vert     # zh-Hans set vertically
  tesseract-ocr-jpn              # ja
  tesseract-ocr-jpn-vert         # ja, vertical
  tesseract-ocr-kor              # ko
  tesseract-ocr-kor-vert         # ko, vertical
  tesseract-ocr-rus              # ru
  tesseract-ocr-eng              # en
  tesseract-ocr-deu              # de
  tesseract-ocr-frk              # de-Latf: German set in Fraktur
  tesseract-ocr-fra              # fr
  tesseract-ocr-lat              # la
  fonts-arphic-uming             # the demo's sample book (pipeline/synthetic.py) and the PDF text layer (pipeline/pdf.py)
)
test_extras=(
  chromium                       # browser tests: tests/browser.py drives /usr/bin/chromium over DevTools
  poppler-utils                  # pdftotext, pdfinfo, pdfimages read the PDF downloads back (tests/*/test_pdf.py)
  fonts-arphic-ukai              # kai-style test pages (tests/pipeline/test_ocr_engines.py, test_synthetic.py)
  fonts-noto-cjk                 # the Japanese test page (tests/workflows/test_ingest_languages.py)
  fonts-dejavu-core              # Latin test pages (tests/pipeline/test_ocr_woodblock.py, test_ingest_languages.py)
  libmagic1                      # python-magic, which iiif-validator (a test extra) imports
)

list_only=false
if [ "${1:-}" = "--list" ]; then list_only=true; shift; fi
case "${1:-runtime}" in
  runtime) packages=("${runtime[@]}") ;;
  test) packages=("${runtime[@]}" "${test_extras[@]}") ;;
  *) echo "usage: $0 [--list] [runtime|test]" >&2; exit 2 ;;
esac
# npm installs the Mirador viewer (both sets); nodesource's nodejs already carries npm, and
# Debian's separate npm package would clash with it, so add Debian's only when npm is absent.
command -v npm >/dev/null 2>&1 || packages+=(nodejs npm)

if $list_only; then
  printf '%s\n' "${packages[@]}"
  exit 0
fi
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  apt-get update
  apt-get install -y --no-install-recommends "${missing[@]}"
fi
tesseract --version | head -1
