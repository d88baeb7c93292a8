"""A bound on a request's head (request line and headers), and uvicorn's logs as JSON.

uvicorn's httptools protocol has no limit on a request's head, and building a
long header value costs time in proportion to the square of its length, on
the event loop: one unauthenticated request with an 80 MB header kept a
worker from answering anything for about 4 s (red-team, third pass), before
authentication, rate limits or the audit trail could see it. Bodies were
bounded (``SHIM_MAX_BODY_BYTES``); heads were not.

:class:`BoundedHead` is that protocol with a bound: once more than
:data:`HEAD_LIMIT` bytes of a request arrive before its head is complete, it
answers ``431`` (``application/problem+json``, slug ``request-head-too-large``),
logs a WARNING and closes the connection. The parser never holds more than
the limit plus one read (uvloop reads at most 256 KiB at once). ``serve``
runs uvicorn with it; h11 (uvicorn's other parser) has a bound of its own.

:func:`uvicorn_log_config` makes uvicorn's own lines (start, stop, errors)
JSON too, through the shim's formatter, so every line on stderr is one object.
"""

from __future__ import annotations

from typing import Any, Final

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from .logs import JsonFormatter, logger
from .problems import MEDIA_TYPE, problem_body

__all__ = ["HEAD_LIMIT", "BoundedHead", "uvicorn_log_config"]

HEAD_LIMIT: Final = 64 * 1024
"""Bytes a request line and its headers may take; more is 431 (h11's own bound is 16 KiB)."""

_TOO_LARGE: Final = problem_body(
    431,
    "request-head-too-large",
    "Request Header Fields Too Large",
    f"the request line and headers are larger than {HEAD_LIMIT} bytes",
    "",
)
_ANSWER: Final = (
    b"HTTP/1.1 431 Request Header Fields Too Large\r\n"
    b"content-type: " + MEDIA_TYPE.encode() + b"\r\n"
    b"content-length: %d\r\nconnection: close\r\n\r\n" % len(_TOO_LARGE) + _TOO_LARGE
)


class BoundedHead(HttpToolsProtocol):
    """uvicorn's httptools protocol, refusing a request whose head exceeds :data:`HEAD_LIMIT`.

    A read is counted when the parser was in a head before it and neither a head
    nor a message was completed during it: then every byte of it was head. A read
    that completed one may hold the start of the next head uncounted, so a head
    is refused at most two reads past the limit.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._in_head = True  # the parser is in a request's head (or before one)
        self._head = 0  # bytes of the current head counted so far
        self._done = False  # a head or a message was completed during this read

    def data_received(self, data: bytes) -> None:
        in_head = self._in_head
        self._done = False
        super().data_received(data)
        if in_head and not self._done and not self.transport.is_closing():
            self._head += len(data)
            if self._head > HEAD_LIMIT:
                logger.warning(
                    "request head too large: refused",
                    extra={"event": "request-head-too-large", "status": 431},
                )
                self.transport.write(_ANSWER)
                self.transport.close()

    def on_headers_complete(self) -> None:
        self._in_head, self._head, self._done = False, 0, True
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        self._in_head, self._done = True, True
        super().on_message_complete()


def uvicorn_log_config(level: str) -> dict[str, Any]:
    """``logging.config.dictConfig`` for uvicorn's loggers: JSON lines on stderr, no access log."""
    formatter = f"{JsonFormatter.__module__}.{JsonFormatter.__qualname__}"
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"json": {"()": formatter}},
        "handlers": {
            "stderr": {
                "class": "logging.StreamHandler",
                "formatter": "json",
                "stream": "ext://sys.stderr",
            }
        },
        "loggers": {
            "uvicorn": {"handlers": ["stderr"], "level": level.upper(), "propagate": False},
            "uvicorn.error": {"level": level.upper()},
            # the raw request line carries tokens and ids (see .logs): never written
            "uvicorn.access": {"handlers": [], "level": "CRITICAL", "propagate": False},
        },
    }
