"""One contract for every storage backend (luigi's FileSystemTargetTestMixin model): filesystem and S3."""

from __future__ import annotations

import io
import random
from pathlib import Path
from typing import BinaryIO

import pytest

from pipeline.checksums import Digests, digest_file
from pipeline.errors import StorageError
from storage_config.backends.base import LocalTree, NotStoredError
from storage_config.backends.filesystem import FilesystemBackend
from storage_config.backends.s3_options import S3Options
from tests.storage.helpers import new_bucket

KEY = "aips/book/book.v1"


@pytest.fixture(params=["filesystem", "s3"])
def backend(request, tmp_path, s3_server):
    if request.param == "filesystem":
        return FilesystemBackend("fs", tmp_path / "store", create=True)
    from storage_config.backends.s3 import S3Backend

    options = S3Options(bucket=new_bucket(s3_server), endpoint_url=s3_server.endpoint, prefix="p/",
                        addressing_style="path", multipart_threshold_mb=5, multipart_chunk_mb=5, max_attempts=2)
    return S3Backend("s3", options)


@pytest.fixture
def tree(tmp_path: Path) -> tuple[Path, dict[str, Digests]]:
    rng = random.Random(5)
    root = tmp_path / "src"
    files = {"bagit.txt": b"BagIt-Version: 1.0\n", "data/masters/p0001.tif": rng.randbytes(6 * 1024 * 1024 + 17),
             "data/ocr/p0001 卷一.txt": "學而時習之".encode()}
    for rel, data in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_bytes(data)
    return root, {rel: digest_file(root / rel) for rel in files}


class FailingTree(LocalTree):
    """A source that breaks after handing out ``good`` files, as a dying disk or network would."""

    def __init__(self, root: Path, good: int) -> None:
        super().__init__(root)
        self.good = good

    def open(self, relpath: str) -> BinaryIO:
        if self.good <= 0:
            raise StorageError(f"source: {relpath}: read failed")
        self.good -= 1
        return super().open(relpath)


def test_put_verify_and_read_back(backend, tree):
    root, expected = tree
    backend.put_tree(root, KEY, expected)

    assert backend.exists(KEY)
    assert backend.verify_tree(KEY, expected) == []
    assert backend.list_aips() == [KEY]
    assert backend.list_tree(KEY) == {rel: d.size for rel, d in expected.items()}
    with backend.open_read(KEY, "data/ocr/p0001 卷一.txt") as stream:
        assert stream.read().decode("utf-8") == "學而時習之"


def test_put_again_is_accepted_and_differing_copy_is_refused_untouched(backend, tree):
    root, expected = tree
    backend.put_tree(root, KEY, expected)
    backend.put_tree(root, KEY, expected)  # a re-run: already stored and intact
    changed = dict(expected)
    changed["bagit.txt"] = Digests(19, "0" * 64, "0" * 128)

    with pytest.raises(StorageError, match=r"already stored and differs; not overwritten: bagit\.txt: sha256"):
        backend.put_tree(root, KEY, changed)
    assert backend.verify_tree(KEY, expected) == []


def test_interrupted_put_leaves_nothing_committed_and_resumes(backend, tree):
    root, expected = tree

    with pytest.raises(StorageError, match="read failed"):
        backend.put_tree(FailingTree(root, good=1), KEY, expected)
    assert not backend.exists(KEY)
    assert backend.list_aips() == []
    assert backend.verify_tree(KEY, expected) == [f"{KEY}: missing"]

    backend.put_tree(root, KEY, expected)
    assert backend.verify_tree(KEY, expected) == []


def test_source_bytes_not_matching_the_digests_are_never_committed(backend, tree):
    root, expected = tree
    (root / "data/ocr/p0001 卷一.txt").write_bytes("學而時習之!".encode())

    with pytest.raises(StorageError, match=r"failed verification: data/ocr/p0001 卷一\.txt: size 16 != 15"):
        backend.put_tree(root, KEY, expected)
    assert not backend.exists(KEY)


def test_verify_names_flipped_and_unexpected_files(backend, tree):
    root, expected = tree
    backend.put_tree(root, KEY, expected)
    smaller = {rel: d for rel, d in expected.items() if rel != "bagit.txt"}
    wrong = {**smaller, "data/masters/p0001.tif": Digests(expected["data/masters/p0001.tif"].size, "a" * 64,
                                                          expected["data/masters/p0001.tif"].sha512)}

    assert backend.verify_tree(KEY, wrong) == ["data/masters/p0001.tif: sha256 mismatch", "bagit.txt: unexpected file"]


def test_small_objects_round_trip(backend):
    backend.put_object("events/book/2025-1.json", b'{"a": 1}')
    backend.put_object("events/book/2025-2.json", b'{"a": 2}')

    assert backend.list_objects("events/book") == ["events/book/2025-1.json", "events/book/2025-2.json"]
    assert backend.read_object("events/book/2025-2.json") == b'{"a": 2}'
    assert backend.list_objects("events/other") == []
    with pytest.raises(NotStoredError, match="not found"):
        backend.read_object("events/book/2025-3.json")


@pytest.mark.parametrize("bad", ["../escape", "/abs/key", "aips/../x", "a\\b"])
def test_unsafe_keys_are_refused(backend, bad):
    with pytest.raises(StorageError, match="unsafe storage path"):
        backend.open_read(KEY, bad)


def test_s3_multipart_upload_streams_and_verifies(s3_server, tree):
    """A 6 MiB file over a 5 MiB threshold goes up in parts and still verifies by SHA-256/512."""
    from storage_config.backends.s3 import S3Backend

    root, expected = tree
    bucket = new_bucket(s3_server)
    backend = S3Backend("s3", S3Options(bucket=bucket, endpoint_url=s3_server.endpoint, addressing_style="path",
                                        multipart_threshold_mb=5, multipart_chunk_mb=5))
    backend.put_tree(root, KEY, expected)

    head = s3_server.client().head_object(Bucket=bucket, Key=f"{KEY}/data/masters/p0001.tif")
    assert head["ETag"].strip('"').endswith("-2")  # two parts: the S3 multipart ETag form
    assert head["Metadata"]["sha256"] == expected["data/masters/p0001.tif"].sha256
    marker = s3_server.client().get_object(Bucket=bucket, Key=f"committed/{KEY}.json")["Body"].read()
    assert b'"data/masters/p0001.tif"' in marker


def test_s3_uncommitted_objects_count_as_absent(s3_server, tree):
    from storage_config.backends.s3 import S3Backend

    root, expected = tree
    bucket = new_bucket(s3_server)
    s3_server.client().put_object(Bucket=bucket, Key=f"{KEY}/bagit.txt", Body=io.BytesIO(b"partial"))
    s3_server.client().put_object(Bucket=bucket, Key=f"{KEY}/stray.bin", Body=b"x")
    backend = S3Backend("s3", S3Options(bucket=bucket, endpoint_url=s3_server.endpoint, addressing_style="path"))

    assert not backend.exists(KEY) and backend.list_aips() == []
    backend.put_tree(root, KEY, expected)  # overwrites the uncommitted object, deletes the stray
    assert backend.verify_tree(KEY, expected) == []
