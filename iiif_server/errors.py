"""Errors a IIIF client can cause, each with its HTTP status.

::

    IIIFError            500  unexpected failure (never raised for bad input)
     +-- BadRequest      400  malformed or unsupported parameter, size beyond the limits
     +-- Forbidden       403  the access policy refuses the request
     +-- NotFound        404  unknown identifier, item, page or file
     +-- URITooLong      414  request path longer than MAX_PATH_LENGTH
     +-- Unavailable     503  a part of the server is not installed (e.g. the viewer)
          +-- Busy       503  too many large renders at once; try again after Retry-After

The server turns every one of them into the same plain-text response shape in
one place (``app.py``); nothing else in ``iiif_server`` builds error responses.
"""

from __future__ import annotations

from http import HTTPStatus
from typing import ClassVar

from pipeline.errors import ShuyingError

# zimeon/iiif and Cantaloupe both refuse paths this long before parsing them.
MAX_PATH_LENGTH = 1024


class IIIFError(ShuyingError):
    """Base class: a request that cannot be answered with content."""

    status: ClassVar[int] = 500

    def __init__(self, text: str, parameter: str = "") -> None:
        self.text = text
        self.parameter = parameter
        super().__init__(f"{parameter}: {text}" if parameter else text)

    @property
    def reason(self) -> str:
        return HTTPStatus(self.status).phrase

    @property
    def headers(self) -> dict[str, str]:
        """Return headers the response must carry besides the body's."""
        return {}

    def body(self) -> str:
        """Return the human-readable response body (IIIF Image 3.0 §7.3)."""
        return f"{self.status} {self.reason}: {self}\n"


class BadRequest(IIIFError):
    """The request syntax is wrong or asks for something this server refuses."""

    status = 400


class Forbidden(IIIFError):
    """The access policy does not allow this request."""

    status = 403


class NotFound(IIIFError):
    """The identifier, item, page or file does not exist (or may not be named)."""

    status = 404


class URITooLong(IIIFError):
    """The request path is longer than :data:`MAX_PATH_LENGTH`."""

    status = 414


class Unavailable(IIIFError):
    """Something the server needs is missing on this machine."""

    status = 503


class Busy(Unavailable):
    """Every slot for large renders is taken and the queue is full: come back later."""

    def __init__(self, text: str, retry_after: int) -> None:
        super().__init__(text)
        self.retry_after = retry_after

    @property
    def headers(self) -> dict[str, str]:
        return {"Retry-After": str(self.retry_after)}
