"""HTTP validators and caching headers: ETag, Last-Modified, Cache-Control and 304 decisions."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from email.utils import formatdate, parsedate_to_datetime


def entity_tag(*parts: object) -> str:
    """Return a strong ETag for a response determined entirely by ``parts``."""
    digest = hashlib.blake2b("\x00".join(map(str, parts)).encode("utf-8"), digest_size=16).hexdigest()
    return f'"{digest}"'


def http_date(timestamp: float) -> str:
    """Format a POSIX time as an HTTP date (RFC 9110 §5.6.7)."""
    return formatdate(timestamp, usegmt=True)


def caching_headers(etag: str, last_modified: float, max_age: int) -> dict[str, str]:
    """Return the validator and freshness headers of a cacheable response."""
    return {"ETag": etag, "Last-Modified": http_date(last_modified), "Cache-Control": f"public, max-age={max_age}"}


def is_not_modified(request_headers: Mapping[str, str], etag: str, last_modified: float) -> bool:
    """Tell whether a conditional GET can be answered 304 (RFC 9110 §13.2.2: If-None-Match wins)."""
    if_none_match = request_headers.get("if-none-match")
    if if_none_match is not None:
        tags = {tag.strip().removeprefix("W/") for tag in if_none_match.split(",")}
        return "*" in tags or etag in tags
    if_modified_since = request_headers.get("if-modified-since")
    if not if_modified_since:
        return False
    try:
        since = parsedate_to_datetime(if_modified_since).timestamp()
    except (TypeError, ValueError, IndexError, OverflowError):
        return False  # an unreadable date is ignored, as RFC 9110 says
    return int(last_modified) <= since
