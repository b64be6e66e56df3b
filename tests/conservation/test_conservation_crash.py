"""A `repair add` killed (SIGKILL) at any step leaves the record nowhere or everywhere, never half-saved.

Each test runs the real CLI as a subprocess that kills itself at one step (see
kill_points.py), then looks with `shuying repair list` and at the catalogue: the record
is listed exactly when the catalogue has an AIP version holding it. Adding the same
record again then saves it or says it is already saved; it is never there twice.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from storage_config.settings import Settings
from tests.conservation.helpers import ITEM, record_doc, write_image, write_json
from tests.conservation.kill_points import STEPS
from workflows.archive import open_archive
from workflows.conservation import add_record
from workflows.conservation_store import RECORD_PATH

REPO = Path(__file__).resolve().parents[2]
SHUYING = [sys.executable, "-c", "import cli; cli.main()"]
KILLED_SHUYING = [sys.executable, "-c", "from tests.conservation.kill_points import main; main()"]


def shuying(settings: Settings, *args: str, step: str | None = None) -> subprocess.CompletedProcess:
    command = [*KILLED_SHUYING, step] if step else SHUYING
    env = {k: v for k, v in os.environ.items() if not k.startswith("SHUYING_")}
    env |= {"SHUYING_HOME": str(settings.home), "SHUYING_STORAGE_CONFIG": str(settings.storage_config)}
    return subprocess.run([*command, "--home", str(settings.home), *args], env=env, cwd=REPO,
                          capture_output=True, text=True, timeout=600)


def add_args(settings: Settings) -> list[str]:
    upload = settings.home.parent / "upload"
    image = write_image(upload / "before-p0002.jpg")
    document = write_json(upload / "repair.json", record_doc())
    return ["repair", "add", ITEM, "--record", str(document), "--image", str(image), "--by", "zhang"]


def listed(settings: Settings) -> list[str]:
    result = shuying(settings, "repair", "list", ITEM)
    assert result.returncode == 0, result.stderr
    return [line.split()[0] for line in result.stdout.splitlines()]


def catalogued(settings: Settings) -> list[str]:
    """Record ids in the payload of the item's latest AIP version, in the catalogue."""
    files = open_archive(settings).catalogue.version(ITEM).files
    return sorted({match[1] for path in files if (match := RECORD_PATH.fullmatch(path))})


def stored_keys(settings: Settings) -> dict[str, list[str]]:
    """Everything under aips/ITEM in each location, temporaries included."""
    return {location: sorted(p.name for p in (settings.home / "storage" / location / "aips" / ITEM).iterdir())
            for location in ("primary", "replica")}


@pytest.mark.parametrize("step", list(STEPS))
def test_a_killed_add_leaves_the_record_nowhere_or_everywhere(archive_settings, step):
    arguments = add_args(archive_settings)

    killed = shuying(archive_settings, *arguments, step=step)

    assert killed.returncode == -signal.SIGKILL, (killed.returncode, killed.stderr)
    in_catalogue = catalogued(archive_settings)
    assert listed(archive_settings) == in_catalogue  # reconciled at start-up: listed iff catalogued
    if not in_catalogue:
        assert [v.version for v in open_archive(archive_settings).catalogue.versions(ITEM)] == [1]
        assert stored_keys(archive_settings) == {"primary": [f"{ITEM}.v1"], "replica": [f"{ITEM}.v1"]}

    again = shuying(archive_settings, *arguments)

    if in_catalogue:
        assert again.returncode == 1, again.stderr
        assert re.search(rf"already saved as {in_catalogue[0]} revision 1 \(AIP version 2\)", again.stderr)
    else:
        assert again.returncode == 0, again.stderr
        assert re.match(r"Saved CR-\d{4}-0001 revision 1 in AIP version 2 of ", again.stdout)
    [record_id] = catalogued(archive_settings)
    assert listed(archive_settings) == [record_id]
    archive = open_archive(archive_settings)
    assert [v.version for v in archive.catalogue.versions(ITEM)] == [1, 2]
    assert {c.location: c.status.value for c in archive.catalogue.copies(ITEM) if c.version == 2} == {
        "primary": "verified", "replica": "verified"}
    assert stored_keys(archive_settings) == {"primary": [f"{ITEM}.v1", f"{ITEM}.v2"],
                                             "replica": [f"{ITEM}.v1", f"{ITEM}.v2"]}
    assert list(archive_settings.work_dir.glob("conservation.tmp-*")) == []  # a killed save's scratch is swept


@pytest.mark.parametrize("step", ["scratch-written", "version-recorded", "stored"])
def test_a_killed_amendment_is_nowhere_or_everywhere_and_is_not_saved_twice(archive_settings, step):
    image = write_image(archive_settings.home.parent / "first" / "before-p0002.jpg")
    first = add_record(archive_settings, ITEM, record_doc(), {"before-p0002.jpg": image}, saved_by="zhang").record
    edited = write_json(archive_settings.home.parent / "r.json", first.as_dict() | {"notes": "补记"})
    amend = ["repair", "amend", first.record_id, "--record", str(edited), "--by", "zhang"]

    killed = shuying(archive_settings, *amend, step=step)

    assert killed.returncode == -signal.SIGKILL, (killed.returncode, killed.stderr)
    files = open_archive(archive_settings).catalogue.version(ITEM).files
    stored = f"data/conservation/{first.record_id}/r2.json" in files
    shown = shuying(archive_settings, "repair", "show", first.record_id)
    assert shown.returncode == 0, shown.stderr
    assert ("revision 2:" in shown.stderr) == stored

    again = shuying(archive_settings, *amend)

    assert again.returncode == (1 if stored else 0), again.stderr
    assert not stored or "edited from revision 1, but revision 2 was saved since" in again.stderr
    revisions = shuying(archive_settings, "repair", "show", first.record_id).stderr
    assert [line.split(":")[0] for line in revisions.splitlines() if line.startswith("revision ")] == [
        "revision 1", "revision 2"]
