"""Audit test helpers: a two-site archive (filesystem primary, S3 replica) and ways to damage a stored copy.

Damage is done from outside Shuying, as a failing disk or a careless operator would:
files are edited in place on the filesystem and objects are overwritten through the
plain S3 API; the commit marker and the catalogue are left as they were.
"""

from __future__ import annotations

import random
import shutil
from dataclasses import dataclass
from pathlib import Path

from storage_config.settings import Settings
from tests.storage.helpers import (
    S3Server,
    fs_location,
    ingest_bag,
    new_bucket,
    s3_location,
    sample_files,
    settings_with,
    write_config,
)
from workflows.archive import open_archive
from workflows.audit import AuditOptions
from workflows.replicate import replicate

MASTER = "data/masters/p0001.tif"
PREFIX = "shuying/"


@dataclass
class Site:
    """An archive with a filesystem primary ("primary") and an S3 replica ("offsite")."""

    settings: Settings
    server: S3Server
    bucket: str

    def options(self, **values) -> AuditOptions:
        return AuditOptions(**{"workers": 2, "report_dir": self.settings.home / "reports", **values})

    def key(self, item_id: str = "book-a", version: int = 1) -> str:
        return f"aips/{item_id}/{item_id}.v{version}"

    def read(self, location: str, rel: str, item_id: str = "book-a") -> bytes | None:
        if location == "primary":
            path = self.settings.home / "primary" / self.key(item_id) / rel
            return path.read_bytes() if path.is_file() else None
        try:
            return self.server.client().get_object(Bucket=self.bucket, Key=f"{PREFIX}{self.key(item_id)}/{rel}")[
                "Body"].read()
        except self.server.client().exceptions.NoSuchKey:
            return None

    def write(self, location: str, rel: str, data: bytes, item_id: str = "book-a") -> None:
        if location == "primary":
            path = self.settings.home / "primary" / self.key(item_id) / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)
        else:
            self.server.client().put_object(Bucket=self.bucket, Key=f"{PREFIX}{self.key(item_id)}/{rel}", Body=data)

    def delete(self, location: str, rel: str, item_id: str = "book-a") -> None:
        if location == "primary":
            (self.settings.home / "primary" / self.key(item_id) / rel).unlink()
        else:
            self.server.client().delete_object(Bucket=self.bucket, Key=f"{PREFIX}{self.key(item_id)}/{rel}")

    def quarantine(self, location: str) -> dict[str, bytes]:
        """Every object under the location's quarantine/ area, by key."""
        backend = open_archive(self.settings).backend(location)
        return {key: backend.read_object(key) for key in backend.list_objects("quarantine")}


def two_site(tmp_path: Path, server: S3Server, **s3_options) -> Site:
    home = tmp_path / "home"
    bucket = new_bucket(server)
    config = write_config(tmp_path / "storage.toml", fs_location("primary", home / "primary"),
                          s3_location("offsite", server, bucket, **s3_options), min_copies=2, offsite_copies=1)
    return Site(settings_with(home, config), server, bucket)


def stored_book(site: Site, item_id: str = "book-a", seed: int = 1, sizes: tuple[int, ...] = (30_000, 20_000)) -> dict:
    """Ingest a small book into the primary and replicate it to S3; return its files."""
    files = sample_files(seed, sizes)
    ingest_bag(site.settings, item_id, files)
    assert replicate(site.settings).ok
    # Storage alone: the bag staged in the work area would otherwise heal damage to both copies.
    shutil.rmtree(site.settings.work_dir / item_id / "aip", ignore_errors=True)
    return files


def flip_bit(data: bytes, offset: int = 1234) -> bytes:
    return data[:offset] + bytes([data[offset] ^ 0x01]) + data[offset + 1:]


def random_bytes(size: int, seed: int = 7) -> bytes:
    return random.Random(seed).randbytes(size)
