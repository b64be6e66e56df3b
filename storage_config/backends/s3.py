"""A storage location in S3-compatible object storage (Ceph RGW, MinIO, a cloud bucket), via boto3.

Plain S3 calls only: PutObject, multipart upload (through boto3's managed transfer),
GetObject, HeadObject, ListObjectsV2, DeleteObject, and ListMultipartUploads, ListParts
and AbortMultipartUpload to find and clean up the uploads of a killed process.

Commit rule (S3 has no rename): the files of an AIP are uploaded to their final keys
``<prefix><key>/<path>``, every one is read back and hashed (SHA-256 and SHA-512
against the digests recorded at ingest), and only then is the commit marker
``<prefix>committed/<key>.json`` written, holding the inventory. A key without its
marker is absent: not listed, not counted as a copy, not exported. A re-run of an
interrupted put keeps the objects already uploaded (same size, same recorded SHA-256
in their metadata; they are read back and verified like the rest), uploads the
others, deletes strays, and commits. We chose the marker over "upload under a temp
prefix, then server-side copy": a copy re-writes every byte on the server, and copying
the files of one AIP one by one is no more atomic than uploading them in place.

Credentials are never in storage.toml: boto3 finds them in the environment, the
shared credentials file, or the named ``profile``.
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
import os
import secrets
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, BinaryIO

import boto3
import botocore.exceptions as bce
from boto3.exceptions import S3UploadFailedError
from boto3.s3.transfer import TransferConfig
from botocore.config import Config

from pipeline.checksums import ALGORITHMS, BLOCK_SIZE, Digests, digest_stream
from pipeline.errors import StorageError, UnreachableError
from storage_config.backends.base import (
    AIP_ROOT,
    NotStoredError,
    PendingUpload,
    TreeSource,
    as_source,
    is_aip_key,
    safe_relpath,
)
from storage_config.backends.s3_options import S3Options

log = logging.getLogger(__name__)

MIB = 1024 * 1024
COMMITTED = "committed/"
_MISSING = {"404", "NoSuchKey", "NotFound"}
_BAD_CREDENTIALS = {"InvalidAccessKeyId", "SignatureDoesNotMatch", "InvalidToken", "ExpiredToken",
                    "InvalidClientTokenId", "AuthorizationHeaderMalformed"}


class S3Backend:
    """AIPs as objects under ``<prefix><key>/`` in one bucket, committed by a marker object."""

    def __init__(self, name: str, options: S3Options) -> None:
        self.name = name
        self.options = options
        self.bucket = options.bucket
        self.prefix = options.prefix if not options.prefix or options.prefix.endswith("/") else options.prefix + "/"
        self._client: Any = None
        # Set by the first connection failure: later calls fail at once instead of waiting out
        # timeouts and retries again (one command run holds one backend object).
        self.unreachable: UnreachableError | None = None

    @property
    def client(self) -> Any:
        if self._client is None:
            with self._errors("connecting"):
                self._client = _make_client(self.options)
        return self._client

    def check_writable(self) -> None:
        """Write and delete a probe object: proves the bucket exists and the credentials may write."""
        probe = f"{self.prefix}.write-probe-{os.getpid()}-{secrets.token_hex(4)}"
        with self._errors("checking the bucket is writable"):
            self.client.put_object(Bucket=self.bucket, Key=probe, Body=b"")
            self.client.delete_object(Bucket=self.bucket, Key=probe)

    def put_tree(self, source: TreeSource | Path, key: str, expected: Mapping[str, Digests]) -> None:
        """Upload, verify and commit ``source`` as ``key`` (see StorageBackend and the module docstring)."""
        if self.exists(key):
            problems = self.verify_tree(key, expected)
            if problems:
                raise StorageError(f"{self.name}: {key} already stored and differs; not overwritten: {problems[0]}")
            return
        self.check_writable()
        present = self._sizes(key)
        with self._errors(f"storing {key}"):
            for rel in sorted(expected):
                if not self._resumable(key, rel, expected[rel], present):
                    self._upload(as_source(source), key, rel, expected[rel])
            for stray in sorted(set(present) - set(expected)):
                self.client.delete_object(Bucket=self.bucket, Key=self._object(key, stray))
        problems = self._verify_objects(key, expected, repair=True)
        if problems:
            raise StorageError(f"{self.name}: copy of {key} failed verification: {'; '.join(problems[:3])}")
        self._commit(key, expected)

    def verify_tree(self, key: str, expected: Mapping[str, Digests]) -> list[str]:
        """Return every problem with the committed copy at ``key``."""
        if not self.exists(key):
            return [f"{key}: missing"]
        extra = sorted(set(self._sizes(key)) - set(expected))
        return self._verify_objects(key, expected, repair=False) + [f"{rel}: unexpected file" for rel in extra]

    def exists(self, key: str) -> bool:
        with self._errors(f"looking for {key}"):
            try:
                self.client.head_object(Bucket=self.bucket, Key=self._marker(key))
            except bce.ClientError as exc:
                if _code(exc) in _MISSING:
                    return False
                raise
        return True

    def list_tree(self, key: str) -> dict[str, int]:
        return self._sizes(key)

    def list_aips(self) -> list[str]:
        start, end = f"{self.prefix}{COMMITTED}", ".json"
        keys = (k[len(start):-len(end)] for k in self._keys(f"{start}{AIP_ROOT}") if k.endswith(end))
        return sorted(k for k in keys if is_aip_key(k))

    def open_read(self, key: str, relpath: str) -> BinaryIO:
        return self._get(self._object(key, relpath), f"{key}/{relpath}")

    def put_object(self, key: str, data: bytes) -> None:
        with self._errors(f"writing {key}"):
            self.client.put_object(Bucket=self.bucket, Key=self.prefix + str(safe_relpath(key).as_posix()),
                                   Body=data)

    def read_object(self, key: str) -> bytes:
        with self._get(self.prefix + safe_relpath(key).as_posix(), key) as stream:
            return stream.read()

    def list_objects(self, prefix: str) -> list[str]:
        full = self.prefix + safe_relpath(prefix).as_posix() + "/"
        return sorted(k[len(self.prefix):] for k in self._keys(full))

    def replace_file(self, key: str, relpath: str, source: TreeSource | Path, expected: Digests, *,
                     quarantine: str = "") -> None:
        """Keep the old object in quarantine (server-side copy), upload the verified bytes, read back.

        A PutObject replaces an object atomically: readers see the old bytes or the new, never a mix.
        """
        if not self.exists(key):
            raise NotStoredError(f"{self.name}: {key}: not stored")
        if quarantine:
            self.quarantine_file(key, relpath, quarantine, move=False)
        with self._errors(f"replacing {key}/{relpath}"):
            self._upload(as_source(source), key, relpath, expected)
        problems = self._verify_objects(key, {relpath: expected}, repair=False)
        if problems:
            raise StorageError(f"{self.name}: {key}/{relpath} replaced but does not read back: {problems[0]}")

    def quarantine_file(self, key: str, relpath: str, dest: str, *, move: bool) -> bool:
        """Copy an object to ``dest`` on the server (multipart when large); with ``move``, then delete it."""
        source = self._object(key, relpath)
        config = TransferConfig(multipart_threshold=self.options.multipart_threshold_mb * MIB,
                                multipart_chunksize=self.options.multipart_chunk_mb * MIB,
                                max_concurrency=self.options.max_concurrency)
        with self._errors(f"moving {key}/{relpath} to quarantine"):
            try:
                self.client.head_object(Bucket=self.bucket, Key=source)
            except bce.ClientError as exc:
                if _code(exc) in _MISSING:
                    return False
                raise
            self.client.copy({"Bucket": self.bucket, "Key": source}, self.bucket,
                             self.prefix + safe_relpath(dest).as_posix(), Config=config)
            if move:
                self.client.delete_object(Bucket=self.bucket, Key=source)
        return True

    def incomplete_uploads(self) -> list[PendingUpload]:
        """List the multipart uploads under the prefix (ListMultipartUploads: one request per 1,000)."""
        uploads = []
        with self._errors("listing incomplete multipart uploads"):
            pages = self.client.get_paginator("list_multipart_uploads").paginate(Bucket=self.bucket, Prefix=self.prefix)
            for page in pages:
                uploads += [PendingUpload(u["Key"][len(self.prefix):], u["UploadId"], _utc(u["Initiated"]))
                            for u in page.get("Uploads", ())]
        return uploads

    def abort_idle_uploads(self, before: datetime) -> list[PendingUpload]:
        """Abort the uploads started, and last given a part, before ``before`` (see StorageBackend).

        A killed transfer cannot abort its own upload, and S3 keeps (and bills) its parts
        until someone does; a lifecycle rule on the bucket is the other way to clean up.
        """
        idle = [u for u in self.incomplete_uploads() if u.initiated < before and self._last_part(u) < before]
        return [upload for upload in idle if self._abort(upload)]

    # -- helpers -------------------------------------------------------------------------------

    def _last_part(self, upload: PendingUpload) -> datetime:
        """When the upload last received a part (its start if none): a live transfer keeps this recent."""
        latest = upload.initiated
        with self._errors(f"listing the parts of the upload of {upload.key}"):
            pages = self.client.get_paginator("list_parts").paginate(Bucket=self.bucket, Key=self.prefix + upload.key,
                                                                     UploadId=upload.upload_id)
            for page in pages:
                latest = max([latest, *(_utc(part["LastModified"]) for part in page.get("Parts", ()))])
        return latest

    def _abort(self, upload: PendingUpload) -> bool:
        """Abort one upload; False if it was completed or aborted meanwhile."""
        with self._errors(f"aborting the upload of {upload.key}"):
            try:
                self.client.abort_multipart_upload(Bucket=self.bucket, Key=self.prefix + upload.key,
                                                   UploadId=upload.upload_id)
            except bce.ClientError as exc:
                if _code(exc) in ("NoSuchUpload", *_MISSING):
                    return False
                raise
        log.info("%s: aborted the incomplete upload of %s (started %s)", self.name, upload.key,
                 upload.initiated.isoformat(timespec="seconds"))
        return True

    def _object(self, key: str, rel: str) -> str:
        return f"{self.prefix}{safe_relpath(key).as_posix()}/{safe_relpath(rel).as_posix()}"

    def _marker(self, key: str) -> str:
        return f"{self.prefix}{COMMITTED}{safe_relpath(key).as_posix()}.json"

    def _keys(self, prefix: str) -> Iterator[str]:
        with self._errors(f"listing {prefix}"):
            for page in self.client.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=prefix):
                yield from (obj["Key"] for obj in page.get("Contents", ()))

    def _sizes(self, key: str) -> dict[str, int]:
        start = self._object(key, "x")[:-1]
        sizes = {}
        with self._errors(f"listing {key}"):
            for page in self.client.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=start):
                sizes.update({obj["Key"][len(start):]: int(obj["Size"]) for obj in page.get("Contents", ())})
        return sizes

    def _resumable(self, key: str, rel: str, want: Digests, present: Mapping[str, int]) -> bool:
        """Say whether an object left by an interrupted put can stay (it is verified later anyway)."""
        if present.get(rel) != want.size:
            return False
        head = self.client.head_object(Bucket=self.bucket, Key=self._object(key, rel))
        return head.get("Metadata", {}).get("sha256") == want.sha256

    def _upload(self, source: TreeSource, key: str, rel: str, want: Digests) -> None:
        config = TransferConfig(multipart_threshold=self.options.multipart_threshold_mb * MIB,
                                multipart_chunksize=self.options.multipart_chunk_mb * MIB,
                                max_concurrency=self.options.max_concurrency, io_chunksize=BLOCK_SIZE)
        with source.open(rel) as stream:
            self.client.upload_fileobj(stream, self.bucket, self._object(key, rel), Config=config,
                                       ExtraArgs={"Metadata": {"sha256": want.sha256, "sha512": want.sha512}})
        log.debug("%s: uploaded %s/%s (%d bytes)", self.name, key, rel, want.size)

    def _verify_objects(self, key: str, expected: Mapping[str, Digests], *, repair: bool) -> list[str]:
        problems = []
        for rel, want in sorted(expected.items()):
            try:
                with self.open_read(key, rel) as stream:
                    found = digest_stream(stream)
            except NotStoredError:
                problems.append(f"{rel}: missing")
                continue
            bad = [f"{rel}: size {found.size} != {want.size}"] if found.size != want.size else []
            bad += [f"{rel}: {a} mismatch" for a in ALGORITHMS if getattr(found, a) != getattr(want, a)]
            if bad and repair:  # uncommitted: delete so a re-run uploads it again instead of resuming it
                with self._errors(f"removing bad upload {rel}"):
                    self.client.delete_object(Bucket=self.bucket, Key=self._object(key, rel))
            problems += bad
        return problems

    def _commit(self, key: str, expected: Mapping[str, Digests]) -> None:
        marker = {"key": key, "committed": datetime.now(UTC).isoformat(timespec="seconds"),
                  "files": {rel: d.as_dict() for rel, d in sorted(expected.items())}}
        with self._errors(f"committing {key}"):
            self.client.put_object(Bucket=self.bucket, Key=self._marker(key), ContentType="application/json",
                                   Body=json.dumps(marker, ensure_ascii=False, indent=1).encode("utf-8"))

    def _get(self, full_key: str, label: str) -> BinaryIO:
        with self._errors(f"reading {label}"):
            try:
                body = self.client.get_object(Bucket=self.bucket, Key=full_key)["Body"]
            except bce.ClientError as exc:
                if _code(exc) in _MISSING:
                    raise NotStoredError(f"{self.name}: {label}: not found") from None
                raise
        return io.BufferedReader(_BodyReader(body, self, label), buffer_size=BLOCK_SIZE)

    @contextlib.contextmanager
    def _errors(self, doing: str) -> Iterator[None]:
        """Turn boto3's exceptions into one StorageError that says what to do.

        Raises:
            UnreachableError: the endpoint refused or timed out a connection, now or earlier.
        """
        if self.unreachable is not None:
            raise UnreachableError(self.name, self.unreachable.endpoint, self.unreachable.reason,
                                   f"{doing}: not tried again")
        try:
            yield
        except (bce.BotoCoreError, bce.ClientError, S3UploadFailedError, OSError) as exc:
            if _cannot_connect(exc):
                self.unreachable = UnreachableError(self.name, self.options.endpoint_url or "the default S3 endpoint",
                                                    str(exc), doing)
                log.warning("%s: %s unreachable (%s); not asked again in this run", self.name,
                            self.unreachable.endpoint, exc)
                raise self.unreachable from None
            raise StorageError(f"{self.name}: {doing}: {self._explain(exc)}") from None

    def _explain(self, exc: BaseException) -> str:
        where = self.options.endpoint_url or "the default S3 endpoint"
        text = str(exc)
        code = _code(exc) if isinstance(exc, bce.ClientError) else next(
            (c for c in (*_BAD_CREDENTIALS, "AccessDenied", "NoSuchBucket") if c in text), "")
        if isinstance(exc, bce.NoCredentialsError):
            return ("no S3 credentials found (set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, "
                    "or a profile in ~/.aws/credentials)")
        if isinstance(exc, bce.ProfileNotFound):
            return f"profile {self.options.profile!r} not found in the AWS credentials/config files"
        if code in _BAD_CREDENTIALS:
            return f"{where} rejected the credentials ({code}); check AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY or the profile"
        if code == "403":  # a HEAD response has no body to say which
            return (f"{where} refused the request (HTTP 403): wrong credentials, or no permission on bucket "
                    f"{self.bucket!r}; check AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY or the profile")
        if code == "AccessDenied":
            return f"access denied to bucket {self.bucket!r} at {where}; the credentials lack permission"
        if code == "NoSuchBucket":
            return f"bucket {self.bucket!r} does not exist at {where}"
        if isinstance(exc, (bce.EndpointConnectionError, bce.ConnectionError, bce.ReadTimeoutError,
                            bce.ConnectTimeoutError, OSError)) or "connect" in text.lower():
            return f"cannot reach {where} ({text}); nothing partial is counted, re-run when it is back"
        return text


class _BodyReader(io.RawIOBase):
    """A GetObject body as a raw stream whose failures are StorageErrors."""

    def __init__(self, body: Any, backend: S3Backend, label: str) -> None:
        self._body, self._backend, self._label = body, backend, label

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        with self._backend._errors(f"reading {self._label}"):
            try:
                data = self._body.read(len(buffer))
            except (bce.ResponseStreamingError, bce.IncompleteReadError) as exc:
                raise OSError(str(exc)) from None
        buffer[:len(data)] = data
        return len(data)

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self._body.close()
        super().close()


def _make_client(options: S3Options) -> Any:
    session = boto3.session.Session(profile_name=options.profile or None)
    config = Config(
        connect_timeout=options.connect_timeout, read_timeout=options.read_timeout,
        retries={"max_attempts": options.max_attempts, "mode": "standard"},
        s3={"addressing_style": options.addressing_style},
        # botocore >= 1.36 adds CRC checksums to every upload by default, which several
        # S3-compatible servers reject; we verify SHA-256 and SHA-512 by reading back instead.
        request_checksum_calculation="when_required", response_checksum_validation="when_required",
    )
    return session.client("s3", endpoint_url=options.endpoint_url or None, region_name=options.region or None,
                          config=config)


def _cannot_connect(exc: BaseException | None) -> bool:
    """Say whether no connection could be opened (boto3's transfer manager wraps the cause)."""
    while exc is not None:
        if isinstance(exc, (bce.EndpointConnectionError, bce.ConnectTimeoutError)):
            return True
        exc = exc.__cause__ or exc.__context__
    return False


def _utc(moment: datetime) -> datetime:
    return moment.astimezone(UTC)


def _code(exc: BaseException) -> str:
    return str(getattr(exc, "response", {}).get("Error", {}).get("Code", ""))
