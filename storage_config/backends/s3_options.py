"""How a location reaches its S3 bucket: plain settings, apart from the backend so that reading
``storage.toml`` loads no boto3 and the backend and the locations do not import each other."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class S3Options:
    """Where and how to reach an S3-compatible bucket (never how to authenticate)."""

    bucket: str
    endpoint_url: str = ""
    prefix: str = ""
    region: str = ""
    profile: str = ""
    addressing_style: str = "auto"
    multipart_threshold_mb: int = 64
    multipart_chunk_mb: int = 64
    max_concurrency: int = 4
    connect_timeout: float = 10.0
    read_timeout: float = 60.0
    max_attempts: int = 5
