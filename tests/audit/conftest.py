"""Audit fixtures: the storage suite's S3 server on 127.0.0.1 and its AWS environment, re-exported."""

from __future__ import annotations

from tests.storage.conftest import aws_environment, own_s3_server, s3_server

__all__ = ["aws_environment", "own_s3_server", "s3_server"]
