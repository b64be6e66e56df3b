"""Format identification with fido: real files made here, PUIDs as PRONOM (v109) defines them."""

from __future__ import annotations

import io
import threading
import zipfile
from pathlib import Path

import numpy as np
import pytest
import pyvips
from PIL import Image

from pipeline.formats import (
    FIDO_VERSION,
    FileFormat,
    FormatReadError,
    identification_tool,
    identify,
    identify_bytes,
)

METS = """<?xml version="1.0" encoding="UTF-8"?>
<mets:mets xmlns:mets="http://www.loc.gov/METS/" OBJID="shuying-0001">
  <mets:fileSec><mets:fileGrp USE="MASTER"/></mets:fileSec>
</mets:mets>
"""
ALTO = """<?xml version="1.0" encoding="UTF-8"?>
<alto xmlns="http://www.loc.gov/standards/alto/ns-v4#">
  <Layout><Page ID="p1" WIDTH="100" HEIGHT="200"><PrintSpace>
    <TextBlock ID="b1"><TextLine ID="l1"><String CONTENT="欽定四庫全書"/></TextLine></TextBlock>
  </PrintSpace></Page></Layout>
</alto>
"""


def _pixels() -> np.ndarray:
    rng = np.random.default_rng(7)
    return rng.integers(0, 255, (120, 90, 3), dtype=np.uint8)


def _vips() -> pyvips.Image:
    return pyvips.Image.new_from_array(_pixels(), interpretation="srgb")


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("formats")
    _vips().tiffsave(str(folder / "uncompressed.tif"))
    _vips().tiffsave(str(folder / "jpeg-in.tif"), compression="jpeg", Q=90)
    Image.fromarray(_pixels()).save(folder / "jfif.jpg", quality=90)  # Pillow writes a JFIF 1.01 APP0
    Image.fromarray(_pixels()).save(folder / "image.png")
    _vips().pngsave(str(folder / "with-icc.png"), profile="srgb")  # an iCCP chunk makes it PNG 1.1
    Image.fromarray(_pixels()).save(folder / "lossless.jp2", irreversible=False)
    Image.fromarray(_pixels()).save(folder / "really-a-png.tif", format="PNG")
    (folder / "mets.xml").write_text(METS, encoding="utf-8")
    (folder / "page.alto.xml").write_text(ALTO, encoding="utf-8")
    manifest = '{"type": "Manifest", "label": {"zh": ["欽定四庫全書"]}}'
    (folder / "manifest.json").write_text(manifest, encoding="utf-8")
    (folder / "ocr.txt").write_text("欽定四庫全書\n經部一\n", encoding="utf-8")
    (folder / "empty.tif").write_bytes(b"")
    (folder / "noise-without-extension").write_bytes(bytes(range(7, 250)) * 3)
    return folder


# Expected PUIDs, read from fido's conf/formats-v109.xml (PRONOM v109):
# fmt/353 Tagged Image File Format; fmt/43 JPEG File Interchange Format 1.01 (SOI + JFIF APP0);
# fmt/11 PNG 1.0 (IHDR ... IEND only), fmt/12 PNG 1.1 (an iCCP, sRGB or sPLT chunk at BOF);
# x-fmt/392 JP2 (JPEG 2000 part 1);
# fmt/101 Extensible Markup Language 1.0; fmt/817 JSON Data Interchange Format and x-fmt/111
# Plain Text File (no signature in PRONOM: by extension).
@pytest.mark.parametrize(("name", "puid", "format_name", "basis"), [
    ("uncompressed.tif", "fmt/353", "Tagged Image File Format", "signature"),
    ("jpeg-in.tif", "fmt/353", "Tagged Image File Format", "signature"),
    ("jfif.jpg", "fmt/43", "JPEG File Interchange Format", "signature"),
    ("image.png", "fmt/11", "Portable Network Graphics", "signature"),
    ("with-icc.png", "fmt/12", "Portable Network Graphics", "signature"),
    ("lossless.jp2", "x-fmt/392", "JP2 (JPEG 2000 part 1)", "signature"),
    ("mets.xml", "fmt/101", "Extensible Markup Language", "signature"),
    ("page.alto.xml", "fmt/101", "Extensible Markup Language", "signature"),
    ("manifest.json", "fmt/817", "JSON Data Interchange Format", "extension"),
    ("ocr.txt", "x-fmt/111", "Plain Text File", "extension"),
])
def test_identifies_the_files_shuying_writes_and_keeps(files: Path, name: str, puid: str, format_name: str,
                                                        basis: str) -> None:
    found = identify(files / name)
    assert (found.puid, found.name, found.basis) == (puid, format_name, basis)


def test_reports_mime_and_version_from_pronom(files: Path) -> None:
    jpeg = identify(files / "jfif.jpg")
    assert jpeg == FileFormat("fmt/43", "JPEG File Interchange Format", "1.01", "image/jpeg", "signature")
    assert (jpeg.registry, jpeg.known) == ("PRONOM", True)
    assert identify(files / "uncompressed.tif").mime == "image/tiff"


def test_fido_s_own_additions_are_not_passed_off_as_pronom() -> None:
    script = identify_bytes("make_book.py", b"#!/usr/bin/env python\nprint('shuying')\n")
    assert (script.puid, script.registry) == ("fido-fmt/python", "fido")


def test_the_signature_wins_over_a_misleading_extension(files: Path) -> None:
    found = identify(files / "really-a-png.tif")
    assert (found.puid, found.mime, found.basis) == ("fmt/11", "image/png", "signature")


def test_an_empty_file_has_no_format_whatever_its_extension(files: Path) -> None:
    assert identify(files / "empty.tif") == FileFormat("", "unknown", "", "", "none")


def test_an_unknown_format_is_reported_not_raised(files: Path) -> None:
    found = identify(files / "noise-without-extension")
    assert (found.puid, found.name, found.basis, found.known) == ("", "unknown", "none", False)


def test_an_extension_does_not_name_a_format_whose_signature_failed(files: Path) -> None:
    """Noise named .png matches no PNG signature, and PNG has one: so it is unknown, not PNG."""
    data = (files / "noise-without-extension").read_bytes()
    assert identify_bytes("fake.png", data).puid == ""


def test_identify_bytes_matches_identify(files: Path) -> None:
    for name in ("jfif.jpg", "mets.xml", "ocr.txt", "really-a-png.tif"):
        assert identify_bytes(name, (files / name).read_bytes()) == identify(files / name)


def test_a_zip_container_is_looked_into() -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("notes.txt", "卷一")
    found = identify_bytes("bundle.zip", buffer.getvalue())
    assert (found.puid, found.name) == ("x-fmt/263", "ZIP Format")


def test_a_missing_file_raises_an_oserror_naming_it(tmp_path: Path) -> None:
    missing = tmp_path / "p0001.tif"
    with pytest.raises(FormatReadError, match=r"cannot read .*p0001\.tif to identify its format") as caught:
        identify(missing)
    assert isinstance(caught.value, OSError)
    assert caught.value.filename == str(missing)


def test_a_folder_raises_an_oserror_naming_it(tmp_path: Path) -> None:
    with pytest.raises(OSError, match=f"cannot read {tmp_path}"):
        identify(tmp_path)


def test_nothing_is_printed(files: Path, capfd: pytest.CaptureFixture[str]) -> None:
    for name in ("uncompressed.tif", "empty.tif", "noise-without-extension", "ocr.txt"):
        identify(files / name)
    assert capfd.readouterr() == ("", "")


def test_threads_share_the_instance_safely(files: Path) -> None:
    names = ["uncompressed.tif", "image.png", "mets.xml", "ocr.txt"] * 25
    expected = {name: identify(files / name) for name in set(names)}
    found: dict[int, FileFormat] = {}

    def work(i: int, name: str) -> None:
        found[i] = identify(files / name)

    threads = [threading.Thread(target=work, args=(i, n)) for i, n in enumerate(names)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert all(found[i] == expected[name] for i, name in enumerate(names))


def test_names_the_tool_and_the_signature_release() -> None:
    tool = identification_tool()
    assert (tool.name, tool.version, FIDO_VERSION) == ("fido", "1.6.1", "1.6.1")
    assert tool.pronom_version == "109" and tool.signature_file == "formats-v109.xml"
    assert tool.describe() == "fido 1.6.1 (PRONOM signatures v109, container-signature-20200121.xml)"
