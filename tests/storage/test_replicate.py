"""Replication to policy, restore, status, and the faults: each gives a clear message, counts nothing
partial as a copy, loses nothing, and a re-run completes."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import threading
import time

import pytest

from pipeline.errors import StorageError
from storage_config.catalogue import CopyStatus
from tests.storage.helpers import (
    S3Server,
    free_port,
    fs_location,
    ingest_bag,
    new_bucket,
    run_python,
    s3_location,
    sample_files,
    settings_with,
    store_again,
    write_config,
)
from workflows.archive import item_lock, open_archive
from workflows.replicate import Outcome, replicate, restore
from workflows.storage_status import format_status, status

BIG = (6 * 1024 * 1024, 6 * 1024 * 1024, 6 * 1024 * 1024)  # multipart at a 5 MiB threshold


def copy_states(settings, item_id: str = "book-a") -> dict[str, CopyStatus]:
    return {c.location: c.status for c in open_archive(settings).catalogue.copies(item_id)}


def two_site(tmp_path, server: S3Server, bucket: str, **options):
    home = tmp_path / "home"
    s3_options = options.pop("s3", {})
    config = write_config(tmp_path / "storage.toml", fs_location("primary", home / "primary"),
                          s3_location("offsite", server, bucket, **s3_options), min_copies=2, offsite_copies=1,
                          **options)
    return settings_with(home, config)


def test_replicate_meets_the_policy_and_status_shows_it(tmp_path, s3_server):
    settings = two_site(tmp_path, s3_server, new_bucket(s3_server))
    ingest_bag(settings, "book-a", sample_files(1))
    ingest_bag(settings, "book-b", sample_files(2))
    before = status(settings)
    assert before.below_policy == (
        "aips/book-a/book-a.v1: 1 verified copies (0 off-site); policy needs 2 (1 off-site)",
        "aips/book-b/book-b.v1: 1 verified copies (0 off-site); policy needs 2 (1 off-site)")

    report = replicate(settings)

    assert report.ok and [str(o).split(":")[0] for o in report.outcomes] == ["book-a.v1 → offsite",
                                                                             "book-b.v1 → offsite"]
    after = status(settings)
    assert after.ok and after.items == 2
    assert [(loc.name, loc.verified, loc.not_verified) for loc in after.locations] == [("primary", 2, 0),
                                                                                     ("offsite", 2, 0)]
    lines = format_status(after)
    assert lines[0] == "2 items, 2 AIP versions; policy: 2 verified copies, 1 off-site"
    assert any(re.fullmatch(r"  aips/book-a/book-a.v1  10 files, 5\d\.\d KB  \[offsite=verified \S+, "
                            r"primary=verified \S+\]", line) for line in lines), lines
    assert replicate(settings).outcomes == ()  # nothing left to do


def test_replicate_to_a_named_location(tmp_path):
    home = tmp_path / "home"
    config = write_config(tmp_path / "storage.toml", fs_location("primary", home / "primary"),
                          fs_location("nas", home / "nas", role="replica"))
    settings = settings_with(home, config)
    ingest_bag(settings, "book-a", sample_files(1))
    assert replicate(settings).outcomes == ()  # policy (1 copy) already met

    report = replicate(settings, location="nas")

    assert [(o.location, o.outcome) for o in report.outcomes] == [("nas", Outcome.COPIED)]
    assert open_archive(settings).backend("nas").verify_tree(
        "aips/book-a/book-a.v1", open_archive(settings).catalogue.version("book-a").stored_files()) == []


def test_ingest_writes_the_replica_when_the_policy_says_so_and_finishes_on_rerun(tmp_path, s3_server):
    down = S3Server(free_port(), {})  # nothing listens there yet
    settings = two_site(tmp_path, down, "shuying-dr", replicate_on_ingest=True)

    with pytest.raises(StorageError, match=r"book-a.v1 → offsite: failed: offsite: .*cannot reach "
                                           rf"http://127.0.0.1:{down.port}"):
        ingest_bag(settings, "book-a", sample_files(1))
    assert copy_states(settings) == {"primary": CopyStatus.VERIFIED, "offsite": CopyStatus.FAILED}

    down.start()
    try:
        down.client().create_bucket(Bucket="shuying-dr")
        store_again(settings, "book-a")
    finally:
        down.stop()
    assert copy_states(settings) == {"primary": CopyStatus.VERIFIED, "offsite": CopyStatus.VERIFIED}


def test_two_replications_of_one_item_the_second_says_already_running(tmp_path, s3_server):
    settings = two_site(tmp_path, s3_server, new_bucket(s3_server))
    ingest_bag(settings, "book-a", sample_files(1))
    code = (f"from storage_config.settings import load_settings; from workflows.replicate import replicate\n"
            f"s = load_settings(environ={{}}, home={str(settings.home)!r}, "
            f"storage_config={str(settings.storage_config)!r})\n"
            f"r = replicate(s, item='book-a'); print('\\n'.join(map(str, r.failures)))")

    with item_lock(open_archive(settings), "book-a"):
        busy = run_python(code)
    assert busy.returncode == 0, busy.stderr
    assert busy.stdout.startswith(f"book-a → *: failed: book-a: storage or replication already running "
                                  f"(pid {os.getpid()} since ")
    assert copy_states(settings) == {"primary": CopyStatus.VERIFIED}

    done = run_python(code)
    assert done.returncode == 0 and done.stdout.strip() == "", done.stderr
    assert copy_states(settings)["offsite"] is CopyStatus.VERIFIED


@pytest.fixture
def small_disk(tmp_path):
    folder = tmp_path / "small"
    folder.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=200k", "tmpfs", str(folder)], capture_output=True,
                             check=False)
    if mounted.returncode:
        pytest.skip(f"cannot mount a small tmpfs here (needs root): {mounted.stderr.decode().strip()}")
    yield folder
    subprocess.run(["umount", str(folder)], check=True)


def test_storage_full_during_a_copy(tmp_path, small_disk):
    home = tmp_path / "home"
    config = write_config(tmp_path / "storage.toml", fs_location("primary", home / "primary"),
                          fs_location("nas", small_disk, role="replica"), min_copies=2)
    settings = settings_with(home, config)
    ingest_bag(settings, "book-a", sample_files(1, sizes=(150_000, 150_000)))

    report = replicate(settings)

    assert [str(o) for o in report.failures] == [
        ("book-a.v1 → nas: failed: nas: storage full while writing aips/book-a/book-a.v1; nothing was stored "
         "(free space and re-run)")]
    assert list(small_disk.glob("aips/*/*")) == []  # the partial copy is gone; only the failure event is there
    assert copy_states(settings)["nas"] is CopyStatus.FAILED
    subprocess.run(["mount", "-o", "remount,size=2m", str(small_disk)], check=True)  # space freed
    assert replicate(settings).ok
    assert copy_states(settings)["nas"] is CopyStatus.VERIFIED


def _wait_for_upload(client, bucket: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if client.list_objects_v2(Bucket=bucket).get("KeyCount") or client.list_multipart_uploads(
                Bucket=bucket).get("Uploads"):
            return
        time.sleep(0.01)
    raise AssertionError("the upload never started")


def _replicate_in_thread(settings) -> tuple[threading.Thread, list]:
    result: list = []
    thread = threading.Thread(target=lambda: result.append(replicate(settings)))
    thread.start()
    return thread, result


def test_s3_server_stopped_mid_transfer_then_resumed(tmp_path, own_s3_server):
    bucket = new_bucket(own_s3_server)
    settings = two_site(tmp_path, own_s3_server, bucket, s3={"read_timeout": 1, "max_attempts": 1})
    ingest_bag(settings, "book-a", sample_files(1, sizes=BIG))
    watcher = own_s3_server.client()
    thread, result = _replicate_in_thread(settings)
    _wait_for_upload(watcher, bucket)
    os.kill(own_s3_server.process.pid, signal.SIGSTOP)  # the server hangs mid-transfer
    thread.join(120)
    os.kill(own_s3_server.process.pid, signal.SIGCONT)

    [failure] = result[0].failures
    assert "offsite: " in failure.detail and ("cannot reach" in failure.detail or "timed out" in failure.detail)
    assert copy_states(settings)["offsite"] is CopyStatus.FAILED
    assert watcher.list_objects_v2(Bucket=bucket, Prefix="shuying/committed/").get("KeyCount") == 0

    assert replicate(settings).ok  # resumes: keeps what verifies, uploads the rest, commits
    assert copy_states(settings)["offsite"] is CopyStatus.VERIFIED
    archive = open_archive(settings)
    assert archive.backend("offsite").verify_tree("aips/book-a/book-a.v1",
                                                  archive.catalogue.version("book-a").stored_files()) == []


def test_s3_server_killed_mid_transfer_and_restarted(tmp_path, own_s3_server):
    bucket = new_bucket(own_s3_server)
    settings = two_site(tmp_path, own_s3_server, bucket, s3={"max_attempts": 1})
    ingest_bag(settings, "book-a", sample_files(1, sizes=BIG))
    thread, result = _replicate_in_thread(settings)
    _wait_for_upload(own_s3_server.client(), bucket)
    own_s3_server.stop()
    thread.join(120)

    [failure] = result[0].failures
    assert f"cannot reach http://127.0.0.1:{own_s3_server.port}" in failure.detail
    assert "nothing partial is counted, re-run when it is back" in failure.detail
    assert copy_states(settings)["offsite"] is CopyStatus.FAILED

    own_s3_server.start()  # moto keeps nothing across a restart: recreate the bucket as an operator would
    own_s3_server.client().create_bucket(Bucket=bucket)
    assert replicate(settings).ok
    assert copy_states(settings)["offsite"] is CopyStatus.VERIFIED


@pytest.fixture
def s3_with_auth(tmp_path):
    """A server that checks credentials (moto's IAM mode): the first three calls make a user and its key."""
    server = S3Server(free_port(), {"INITIAL_NO_AUTH_ACTION_COUNT": "3"})
    server.start()
    import boto3

    iam = boto3.client("iam", endpoint_url=server.endpoint, region_name="us-east-1", aws_access_key_id="setup",
                       aws_secret_access_key="setup")
    iam.create_user(UserName="archivist")
    iam.put_user_policy(UserName="archivist", PolicyName="all", PolicyDocument=json.dumps(
        {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}))
    key = iam.create_access_key(UserName="archivist")["AccessKey"]
    server.client(key["AccessKeyId"], key["SecretAccessKey"]).create_bucket(Bucket="shuying-dr")
    yield server, key["AccessKeyId"], key["SecretAccessKey"]
    server.stop()


def test_wrong_credentials_are_named_and_a_profile_fixes_them(tmp_path, s3_with_auth, monkeypatch):
    server, key_id, secret = s3_with_auth
    settings = two_site(tmp_path, server, "shuying-dr")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", key_id)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "not-the-secret")
    ingest_bag(settings, "book-a", sample_files(1))

    [failure] = replicate(settings).failures
    assert failure.detail == (f"offsite: looking for aips/book-a/book-a.v1: http://127.0.0.1:{server.port} refused "
                              "the request (HTTP 403): wrong credentials, or no permission on bucket 'shuying-dr'; "
                              "check AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY or the profile")
    with pytest.raises(StorageError, match=r"rejected the credentials \(SignatureDoesNotMatch\)"):
        open_archive(settings).backend("offsite").check_writable()
    assert copy_states(settings)["offsite"] is CopyStatus.FAILED

    credentials = tmp_path / "aws-credentials"
    credentials.write_text(f"[archive]\naws_access_key_id = {key_id}\naws_secret_access_key = {secret}\n")
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(credentials))
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    settings = two_site(tmp_path, server, "shuying-dr", s3={"profile": '"archive"'})
    assert replicate(settings).ok
    assert copy_states(settings)["offsite"] is CopyStatus.VERIFIED


def test_missing_bucket_is_named(tmp_path, s3_server):
    settings = two_site(tmp_path, s3_server, "no-such-bucket")
    ingest_bag(settings, "book-a", sample_files(1))

    [failure] = replicate(settings).failures
    assert failure.detail == (f"offsite: checking the bucket is writable: bucket 'no-such-bucket' does not exist "
                              f"at http://127.0.0.1:{s3_server.port}")


def test_restore_rebuilds_a_lost_location_and_keeps_a_damaged_copy_untouched(tmp_path, s3_server):
    settings = two_site(tmp_path, s3_server, new_bucket(s3_server))
    ingest_bag(settings, "book-a", sample_files(1))
    ingest_bag(settings, "book-b", sample_files(2))
    assert replicate(settings).ok
    shutil.rmtree(settings.home / "primary/aips/book-a")
    damaged = settings.home / "primary/aips/book-b/book-b.v1/data/ocr/p0001.txt"
    damaged.write_bytes(b"damaged")

    report = restore(settings, "primary")

    assert [(o.item_id, o.outcome) for o in report.outcomes] == [("book-a", Outcome.COPIED),
                                                                ("book-b", Outcome.FAILED)]
    assert report.failures[0].detail == ("present but damaged, not overwritten (repair with shuying audit): "
                                         "data/ocr/p0001.txt: size 7 != 18; data/ocr/p0001.txt: sha256 mismatch; "
                                         "data/ocr/p0001.txt: sha512 mismatch")
    assert damaged.read_bytes() == b"damaged"
    assert copy_states(settings, "book-a")["primary"] is CopyStatus.VERIFIED
    assert copy_states(settings, "book-b")["primary"] is CopyStatus.FAILED


def test_restore_of_an_unknown_location_lists_the_known_ones(tmp_path, s3_server):
    settings = two_site(tmp_path, s3_server, new_bucket(s3_server))
    with pytest.raises(StorageError, match="no location named 'tape'; known: primary, offsite"):
        restore(settings, "tape")
