"""Policy warnings (one copy kept, no off-site copy) at ingest, audit and status; what to do when nothing is left.

With one copy the audit can find damage but has nothing to repair it from: it must say
so at every command, and when it happens, name every source it read, where the damaged
bytes are kept and how to get out (restore from a backup, then audit again).
"""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

import cli
from pipeline.sample_book import write_sample_batch
from pipeline.validation import json_errors
from storage_config.locations import load_storage_config
from storage_config.policy import policy_warnings
from tests.audit.helpers import MASTER, flip_bit
from tests.storage.helpers import fs_location, ingest_bag, sample_files, settings_with, write_config
from workflows.replicate import replicate

ONE_COPY = "only one copy is kept (primary): self-repair impossible: a damaged file can only be restored from a " \
           "backup outside Shuying; "
NO_OFFSITE = "no off-site copy: every copy "


def one_site(tmp_path: Path) -> tuple[Path, Path]:
    home = tmp_path / "home"
    return home, write_config(tmp_path / "storage.toml", fs_location("primary", home / "primary"))


def two_sites(tmp_path: Path) -> tuple[Path, Path]:
    home = tmp_path / "home"
    return home, write_config(tmp_path / "storage.toml", fs_location("primary", home / "primary"),
                              fs_location("nas", home / "nas", role="replica", offsite=True), min_copies=2,
                              offsite_copies=1)


def shuying(home: Path, config: Path, *args: str):
    return CliRunner().invoke(cli.cli, ["--home", str(home), *args], env={"SHUYING_STORAGE_CONFIG": str(config)})


def warnings_of(home: Path, config: Path) -> list[str]:
    return policy_warnings(load_storage_config(config, home=home))


def test_one_location_warns_of_one_copy_and_no_offsite_copy(tmp_path):
    home, config = one_site(tmp_path)
    assert warnings_of(home, config) == [
        f"{ONE_COPY}add a second location in {config}",
        f"no off-site copy: every copy (primary) is on one site, so one fire, flood or theft loses them all; add a "
        f"location with offsite = true in {config} and set policy.offsite_copies = 1"]


def test_two_locations_one_offsite_warn_of_nothing(tmp_path):
    assert warnings_of(*two_sites(tmp_path)) == []


def test_a_second_location_the_policy_never_uses_is_still_one_copy(tmp_path):
    home = tmp_path / "home"
    config = write_config(tmp_path / "storage.toml", fs_location("primary", home / "primary"),
                          fs_location("nas", home / "nas", role="replica", offsite=True), min_copies=1)
    assert warnings_of(home, config) == [
        f"{ONE_COPY}set policy.min_copies = 2 in {config}",
        "no off-site copy: every copy (primary) is on one site, so one fire, flood or theft loses them all; "
        f"location nas has offsite = true but the policy never copies there; set policy.offsite_copies = 1 in {config}"]


def test_two_primaries_on_one_site_are_two_copies_but_not_offsite(tmp_path):
    home = tmp_path / "home"
    config = write_config(tmp_path / "storage.toml", fs_location("primary", home / "primary"),
                          fs_location("mirror", home / "mirror"))
    [warning] = warnings_of(home, config)
    assert warning.startswith("no off-site copy: every copy (primary, mirror) is on one site")


@pytest.mark.parametrize("command", [("status",), ("audit",), ("audit", "--plan"), ("ingest", "BATCH")])
def test_every_ingest_audit_and_status_warns_on_stderr(tmp_path, command):
    home, config = one_site(tmp_path)
    ingest_bag(settings_with(home, config), "book-a", sample_files(1))
    batch = write_sample_batch(tmp_path / "batch", pages=2, width=300, height=450, item_id="book-b")
    (batch / "0002.tif").write_bytes(b"")  # the ingest runs and stops at its first task: quick, and still warned
    args = [str(batch) if a == "BATCH" else a for a in command]

    result = shuying(home, config, *args)

    warnings = [line for line in result.stderr.splitlines() if line.startswith("warning: ")]
    assert warnings == [f"warning: {w}" for w in warnings_of(home, config)], result.output
    assert warnings[0].startswith(f"warning: {ONE_COPY}") and warnings[1].startswith(f"warning: {NO_OFFSITE}")
    if command == ("status",):
        assert "Policy warnings:" in result.stdout and ONE_COPY in result.stdout
    if command[0] == "ingest":
        assert result.exit_code == 1 and "Run log with tracebacks: " in result.stderr  # it ran, and failed


@pytest.mark.parametrize("command", [("status",), ("audit",), ("audit", "--plan")])
def test_a_two_site_archive_is_not_warned_about(tmp_path, command):
    home, config = two_sites(tmp_path)
    ingest_bag(settings_with(home, config), "book-a", sample_files(1))
    assert replicate(settings_with(home, config)).ok

    result = shuying(home, config, *command)

    assert result.exit_code == 0, result.output
    assert "warning:" not in result.output and "Policy warnings" not in result.output


def test_the_audit_report_carries_the_warnings(tmp_path):
    home, config = one_site(tmp_path)
    ingest_bag(settings_with(home, config), "book-a", sample_files(1))

    assert shuying(home, config, "audit", "--report-dir", str(tmp_path / "reports")).exit_code == 0
    [report] = (tmp_path / "reports").glob("*.json")
    data = json.loads(report.read_text(encoding="utf-8"))
    assert json_errors(data, "audit-report") == [] and data["warnings"] == warnings_of(home, config)
    page = report.with_suffix(".html").read_text(encoding="utf-8")
    assert "Warning: only one copy is kept (primary): self-repair impossible" in page


def test_unrecoverable_with_one_copy_says_what_was_tried_where_the_bytes_are_and_what_to_do(tmp_path):
    home, config = one_site(tmp_path)
    ingest_bag(settings_with(home, config), "book-a", sample_files(1))
    shutil.rmtree(home / "work", ignore_errors=True)  # storage alone: no staged bag to heal from
    master = home / "primary/aips/book-a/book-a.v1" / MASTER
    good = master.read_bytes()
    master.write_bytes(flip_bit(good))

    lost = shuying(home, config, "audit", "--report-dir", str(tmp_path / "reports"))

    assert lost.exit_code == int(cli.ExitCode.UNRECOVERABLE), lost.output
    [tried, kept, next_step] = [line.strip() for line in lost.stdout.splitlines()
                                if line.startswith("    ")]
    assert tried == "tried: primary (this copy): damaged; no other location holds this version (only one copy is kept)"
    assert kept.startswith("damaged bytes kept in primary: quarantine/book-a/") and kept.endswith(f"book-a.v1/{MASTER}")
    quarantined = home / "primary" / kept.split(": ", 1)[1]
    assert quarantined.read_bytes() == flip_bit(good)
    digest = hashlib.sha256(good).hexdigest()
    assert next_step == (f"next: restore {MASTER} of aips/book-a/book-a.v1 (SHA-256 {digest}, {len(good)} bytes) from "
                         f"a backup outside Shuying to {master}, then run `shuying audit --item book-a`; the damaged "
                         f"bytes are kept in {quarantined}")

    [report] = (tmp_path / "reports").glob("*.json")
    data = json.loads(report.read_text(encoding="utf-8"))
    assert json_errors(data, "audit-report") == []
    [issue] = [i for c in data["copies"] for i in c["issues"]]
    assert issue["action"] == "unrecoverable" and issue["tried"][-1].startswith("no other location holds")
    assert issue["next_step"] == next_step.removeprefix("next: ")
    page = report.with_suffix(".html").read_text(encoding="utf-8")
    assert "<h2>Unrecoverable: what to do next</h2>" in page and "from a backup outside Shuying" in page

    master.write_bytes(good)  # the next step, done as it says
    assert shuying(home, config, "audit", "--item", "book-a").exit_code == 0


def test_unrecoverable_in_two_sites_names_both_and_the_next_step_repairs_the_other(tmp_path):
    home, config = two_sites(tmp_path)
    ingest_bag(settings_with(home, config), "book-a", sample_files(1))
    assert replicate(settings_with(home, config)).ok
    shutil.rmtree(home / "work", ignore_errors=True)  # storage alone: no staged bag to heal from
    paths = {name: home / name / "aips/book-a/book-a.v1" / MASTER for name in ("primary", "nas")}
    good = paths["primary"].read_bytes()
    for offset, path in enumerate(paths.values()):
        path.write_bytes(flip_bit(good, 100 + offset))

    lost = shuying(home, config, "audit")

    assert lost.exit_code == int(cli.ExitCode.UNRECOVERABLE), lost.output
    tried = [line.strip() for line in lost.stdout.splitlines() if line.startswith("    tried: ")]
    assert sorted(tried) == ["tried: nas (this copy): damaged; primary: does not match the catalogue either",
                             "tried: primary (this copy): damaged; nas: does not match the catalogue either"]
    assert (f"to {paths['nas']}, then run `shuying audit --item book-a`, which checks it and repairs the other "
            "copies from it; the damaged bytes are kept in ") in lost.stdout

    paths["nas"].write_bytes(good)  # restored from a backup into one location
    again = shuying(home, config, "audit", "--item", "book-a")
    assert again.exit_code == int(cli.ExitCode.REPAIRED), again.output
    assert paths["primary"].read_bytes() == good

