"""The official IIIF Image API validator (PyPI iiif-validator) against the real server, level 2, API 3.0.

The validator checks pixel colours of its own test image, a 10x10 grid of 100 px squares.
The package ships the colour table (``ValidationInfo.colorInfo``) but not the PNG, so the
test paints that table into a pyramid and publishes it as an ordinary page: item
``67352ccc-d1b0-11e1-89ae-279075081939``, page ``p0001``. No test-only code path in the server.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pyvips

from pipeline.access import write_pyramid
from tests.iiif_server.helpers import LiveServer, write_access

VALIDATOR_ITEM = "67352ccc-d1b0-11e1-89ae-279075081939"
# Level 3 tests beyond our level 2 profile that we also pass (see extraFeatures/extraFormats).
EXTRA_TESTS = ["rot_mirror", "rot_mirror_180", "rot_full_non90", "rot_region_non90", "linkheader_canonical",
               "linkheader_profile", "format_tif", "format_gif"]


def publish_validator_image(publish_dir: Path) -> str:
    """Paint the validator's colour table into a published pyramid; return its identifier."""
    from iiif_validator.validator import ValidationInfo

    pixels = np.zeros((1000, 1000, 3), np.uint8)
    for x, column in enumerate(ValidationInfo().colorInfo):
        for y, colour in enumerate(column):
            pixels[y * 100:(y + 1) * 100, x * 100:(x + 1) * 100] = colour
    folder = publish_dir / VALIDATOR_ITEM / "images"
    folder.mkdir(parents=True)
    write_pyramid(pyvips.Image.new_from_array(pixels, interpretation="srgb"), folder / "p0001.tif")
    write_access(publish_dir / VALIDATOR_ITEM, "public")
    return f"{VALIDATOR_ITEM}~p0001"


def run_validator(server: LiveServer, identifier: str, *args: str) -> subprocess.CompletedProcess:
    script = Path(sys.executable).parent / "iiif-validate.py"
    command = [sys.executable, str(script), "-s", f"127.0.0.1:{server.port}", "-p", "iiif/3",
               "-i", identifier, "--version=3.0", *args]
    return subprocess.run(command, check=False, capture_output=True, text=True, timeout=300)


def test_the_official_validator_passes_every_level_2_test(live_server: LiveServer) -> None:
    identifier = publish_validator_image(live_server.settings.publish_dir)
    result = run_validator(live_server, identifier, "--level=2")
    assert "Done (33 tests, 0 failures)" in result.stderr, result.stderr
    assert " FAIL" not in result.stderr
    assert result.returncode == 0
    extra = run_validator(live_server, identifier, *(f"--test={name}" for name in EXTRA_TESTS))
    assert f"Done ({len(EXTRA_TESTS)} tests, 0 failures)" in extra.stderr, extra.stderr
