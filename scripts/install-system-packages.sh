#!/usr/bin/env bash
# Install the Debian packages Shuying needs: Tesseract 5 with the Chinese, Korean and
# Japanese models (horizontal and vertical), Russian, English, German (with Fraktur),
# French and Latin, and OSD (page orientation), CJK fonts for the demo and test pages (DejaVu for
# the Latin ones), libvips tools, and Chromium for the
# viewer/contact-sheet browser tests. Idempotent; run as root.
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive
packages=(
  tesseract-ocr tesseract-ocr-chi-tra tesseract-ocr-chi-tra-vert tesseract-ocr-chi-sim
  tesseract-ocr-kor tesseract-ocr-kor-vert tesseract-ocr-jpn tesseract-ocr-jpn-vert
  tesseract-ocr-rus tesseract-ocr-eng tesseract-ocr-deu tesseract-ocr-frk tesseract-ocr-fra tesseract-ocr-lat
  tesseract-ocr-osd
  fonts-arphic-uming fonts-arphic-ukai fonts-noto-cjk fonts-dejavu-core
  libvips-tools
  libmagic1
  chromium
  poppler-utils  # pdftotext and pdfimages: the tests read the PDF downloads back
)
# npm installs the Mirador viewer; nodesource's nodejs already carries npm, and Debian's
# separate npm package would clash with it, so add Debian's only when npm is absent.
command -v npm >/dev/null 2>&1 || packages+=(nodejs npm)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  apt-get update
  apt-get install -y --no-install-recommends "${missing[@]}"
fi
tesseract --version | head -1
