"""The pure parts of the audit: streamed hashing, the rate limiter, inventories, tag files versus the catalogue,
and the option parsers."""

from __future__ import annotations

import hashlib
import io
import random

import pytest

from pipeline.bagit_versions import parse_manifest, rules_for
from pipeline.checksums import Digests
from pipeline.fixity import (
    AuditStopped,
    FindingKind,
    RateLimiter,
    algorithms_for,
    compare_digests,
    compare_inventory,
    compare_tag_files,
    hash_stream,
    parse_rate,
)
from pipeline.fixity_text import decode_path, path_danger, split_lines


@pytest.mark.parametrize("size", [0, 1, 1024 * 1024, 1024 * 1024 + 7, 3 * 1024 * 1024])
def test_hash_stream_matches_hashlib_for_any_size(size):
    data = random.Random(size).randbytes(size)
    counted = []

    found = hash_stream(io.BytesIO(data), ("sha256", "sha512"), on_bytes=counted.append)

    assert found.size == size == sum(counted)
    assert found.digests == {"sha256": hashlib.sha256(data).hexdigest(), "sha512": hashlib.sha512(data).hexdigest()}


def test_hash_stream_stops_when_asked():
    with pytest.raises(AuditStopped):
        hash_stream(io.BytesIO(b"x" * 3_000_000), ("sha256",), should_stop=lambda: True)


def test_rate_limiter_spaces_reads_to_the_rate():
    now, slept = [100.0], []

    def sleep(seconds):
        slept.append(seconds)
        now[0] += seconds

    limiter = RateLimiter(1_000_000, burst_seconds=0.0, clock=lambda: now[0], sleep=sleep)
    for _ in range(5):
        limiter.acquire(500_000)

    assert now[0] - 100.0 == pytest.approx(2.5)  # 2.5 MB at 1 MB/s, with no burst allowed
    assert slept == pytest.approx([0.5] * 5)


def test_compare_digests_and_inventory_name_each_problem():
    want = Digests(3, hashlib.sha256(b"abc").hexdigest(), hashlib.sha512(b"abc").hexdigest())
    found = hash_stream(io.BytesIO(b"abd"), ("sha256",))
    [finding] = compare_digests("data/x", found, want)
    message = f'data/x: sha256 mismatch: expected="{want.sha256}" found="{found.digests["sha256"]}"'
    assert (finding.kind, str(finding)) == (FindingKind.DIGEST, message)
    assert [str(f) for f in compare_inventory({"a": 1, "b": 2, "c": 3}, {"a": 1, "c": 4, "d": 5})] == [
        "b: missing", "d: not in the catalogue (unexpected file)", "c: size 4 bytes, recorded 3"]


def test_tag_files_are_compared_with_the_catalogue():
    payload = {"data/a": Digests(3, "1" * 64, "2" * 128), "data/b": Digests(4, "3" * 64, "4" * 128)}
    texts = {"manifest-sha256.txt": f"{'1' * 64}  data/a\n{'9' * 64}  data/b\n{'5' * 64}  data/c\n".encode(),
             "bag-info.txt": b"Payload-Oxum: 8.2\n"}

    findings = compare_tag_files(texts, payload, {}, "7.2")

    assert [str(f) for f in findings] == [
        "manifest-sha256.txt: lists data/c, which the catalogue does not record",
        "manifest-sha256.txt: gives data/b another digest than the catalogue recorded at ingest",
        "bag-info.txt: Payload-Oxum 8.2; the catalogue records 7.2 and its files add up to 7.2"]
    assert {f.kind for f in findings} == {FindingKind.BAG} and not any(f.damaged for f in findings)


@pytest.mark.parametrize(("raw", "path", "problem"), [
    ("data/a%0Ab", "data/a\nb", ""), ("data/100%25", "data/100%", ""), ("data/x%0d", "data/x\r", ""),
    ("data/100%", "data/100%", "has a '%' that is not %25, %0D or %0A"), ("data/%20", "data/%20", "has a '%'")])
def test_decode_path(raw, path, problem):
    decoded, found = decode_path(raw)
    assert decoded == path and found.startswith(problem) and bool(found) == bool(problem)


@pytest.mark.parametrize(("path", "danger"), [
    ("data/a.tif", ""), ("../x", "contains '..'"), ("/etc/passwd", "is absolute"), ("C:/x", "is absolute"),
    ("~/x", "starts with '~' (a home folder)"), ("data\\x", "contains a backslash (RFC 8493 separates folders with '/')"),
    ("data//x", "has an empty or '.' folder name"), ("data/\x00", "contains a NUL character")])
def test_path_danger(path, danger):
    assert path_danger(path) == danger


def test_manifest_lines_split_on_lf_cr_crlf_only():
    text = f"{'a' * 64}  data/form\x0cfeed\r\n{'b' * 64} data/x\r{'c' * 64}\tdata/y\n"
    assert split_lines(text) == [f"{'a' * 64}  data/form\x0cfeed", f"{'b' * 64} data/x", f"{'c' * 64}\tdata/y"]
    entries, problems = parse_manifest("manifest-sha256.txt", text, "sha256", rules_for((1, 0)), ())
    assert sorted(entries) == ["data/form\x0cfeed", "data/x", "data/y"] and problems == []


@pytest.mark.parametrize(("text", "rate"), [("200MB/s", 200e6), ("1.5GB/s", 1.5e9), ("500KiB/s", 512_000),
                                            ("10 MiB/s", 10 * 1024 * 1024), ("1000", 1000.0), ("64MB", 64e6)])
def test_parse_rate(text, rate):
    assert parse_rate(text) == rate


@pytest.mark.parametrize("bad", ["0MB/s", "200XB/s", "iB/s", "-5MB/s"])
def test_parse_rate_refuses(bad):
    with pytest.raises(ValueError, match="is not a rate"):
        parse_rate(bad)


def test_algorithms_for():
    assert (algorithms_for("sha256"), algorithms_for("both")) == (("sha256",), ("sha256", "sha512"))
    with pytest.raises(ValueError, match="choose sha256, sha512 or both"):
        algorithms_for("md5")
