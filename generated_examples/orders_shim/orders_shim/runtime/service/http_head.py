"""A bound on a request's framing (request line, headers, chunk sizes and trailers), and uvicorn's logs as JSON.

uvicorn's httptools protocol has no limit on a request's head, and building a
long header value costs time in proportion to the square of its length, on
the event loop: one unauthenticated request with an 80 MB header kept a
worker from answering anything for about 4 s (red-team, third pass), before
authentication, rate limits or the audit trail could see it. Bodies were
bounded (``SHIM_MAX_BODY_BYTES``); heads were not.

:class:`BoundedHead` is that protocol with a bound: once more than
:data:`HEAD_LIMIT` bytes of a request that are not its body have arrived (the
request line and headers, a chunked body's chunk sizes, extensions and
trailers), it answers ``431`` (``application/problem+json``, slug
``request-head-too-large``), logs a WARNING and closes the connection. The
parser never holds more than the limit plus one read (uvloop reads at most
256 KiB at once). It also bounds how *long* a request may take to arrive: a
head not complete :data:`HEAD_SECONDS` after it began (a connection's first:
after the connection was made) gets ``408`` (``request-head-timeout``), and a
request not whole :data:`MESSAGE_SECONDS` after it began gets ``408``
(``request-body-timeout``) unless something has answered it already; either
way the connection is closed. So a client cannot hold connections or requests
open by trickling a head or a body, or by sending nothing at all; the app sees
the client leave (a 499 in its audit record). One sweeper task per worker
looks every :data:`SWEEP_SECONDS` and no clock is read per request. Where a
request is (head, body, between requests) comes from the parser's events,
never from the byte count. ``serve`` runs uvicorn with it; h11 (uvicorn's
other parser) has a size bound of its own.

:func:`uvicorn_log_config` makes uvicorn's own lines (start, stop, errors)
JSON too, through the shim's formatter, so every line on stderr is one object.
"""

from __future__ import annotations

import asyncio
import contextlib
import weakref
from typing import Any, Final

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from .logs import JsonFormatter, logger
from .problems import MEDIA_TYPE, problem_body

__all__ = ["HEAD_LIMIT", "HEAD_SECONDS", "MESSAGE_SECONDS", "BoundedHead", "uvicorn_log_config"]

HEAD_LIMIT: Final = 64 * 1024
"""Bytes a request line and its headers may take; more is 431 (h11's own bound is 16 KiB)."""
HEAD_SECONDS = 30.0
"""Seconds a request line and headers may take to arrive; then 408 and the connection is closed."""
MESSAGE_SECONDS = 60.0
"""Seconds a whole request (head and body) may take to arrive; then 408 and the connection is closed.

``SHIM_REQUEST_TIMEOUT`` (30 to 3600, default 60) sets it in each worker ``serve``
starts. At 60, a 1 MiB body (``SHIM_MAX_BODY_BYTES``' default) needs only about
140 kbit/s to arrive in time."""
SWEEP_SECONDS = 5.0  # how often each worker looks for heads that take too long

# where a connection is in its current request (BoundedHead._phase)
_IDLE: Final = 0  # between requests: uvicorn's keep-alive timeout
_HEAD: Final = 1  # the request line and headers are coming (a new connection too): HEAD_SECONDS
_BODY: Final = 2  # the head is in, the body is coming: MESSAGE_SECONDS

# per event loop: its sweeper task, and a coarse clock the sweeper keeps (read per request,
# so no clock call is added to the hot path)
_SWEEPERS: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Task[None]] = (
    weakref.WeakKeyDictionary()
)
_NOW: list[float] = [0.0]


def _refusal(status: int, reason: str, slug: str, detail: str) -> bytes:
    """A whole ``application/problem+json`` response that closes the connection, as bytes:
    written by the protocol itself, before (or without) any request reaching the app."""
    body = problem_body(status, slug, reason, detail, "")
    return (
        b"HTTP/1.1 %d %s\r\ncontent-type: %s\r\ncontent-length: %d\r\nconnection: close\r\n\r\n"
        % (status, reason.encode(), MEDIA_TYPE.encode(), len(body))
    ) + body


_TOO_LARGE: Final = _refusal(
    431,
    "Request Header Fields Too Large",
    "request-head-too-large",
    f"the request line and headers are larger than {HEAD_LIMIT} bytes",
)
_TOO_SLOW: Final = _refusal(
    408,
    "Request Timeout",
    "request-head-timeout",
    "the request line and headers did not arrive in time",
)
_BODY_TOO_SLOW: Final = _refusal(
    408,
    "Request Timeout",
    "request-body-timeout",
    "the request body did not arrive in time",
)


class BoundedHead(HttpToolsProtocol):
    """uvicorn's httptools protocol, refusing a request whose framing exceeds :data:`HEAD_LIMIT`.

    What is bounded is every byte of a request that is not body: the request line
    and headers, and for a chunked body its chunk sizes, chunk extensions and
    trailers (the parser reads trailers with the header callbacks, after the head:
    a first version that counted the head alone let 100 MB of trailers through,
    red-team, fourth pass). So each read is counted, and the body bytes the parser
    hands over are taken off; the rest is framing. A read that completes a message
    may hold the start of the next one uncounted, so a request is refused at most
    two reads past the limit.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._framing = 0  # bytes of the current message that were not body, so far
        self._since = 0.0  # when the current message began (the sweeper's coarse clock)
        # The parser's own events say where a request is, not the byte count: a read that
        # ends one request can hold the next one's whole head, and with a Content-Length
        # body trickled after it the count stayed 0 at every read, so the sweeper took the
        # connection for idle and the body was never timed (red-team, fifth pass).
        self._phase = _HEAD

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)  # type: ignore[arg-type]
        loop = asyncio.get_running_loop()
        if loop not in _SWEEPERS:
            _NOW[0] = loop.time()
            _SWEEPERS[loop] = loop.create_task(_sweep(loop, self.connections))
        # A new connection's first head is timed from the connection: uvicorn arms no timeout
        # before a first request, and ~20,000 connections that never sent a byte held every
        # file descriptor of a worker (red-team, fifth pass).
        self._since = _NOW[0]

    def data_received(self, data: bytes) -> None:
        if self._phase == _IDLE:  # whatever comes between requests begins the next one's head
            self._began()
        self._framing += len(data)
        super().data_received(data)
        if self._framing > HEAD_LIMIT and not self.transport.is_closing():
            # one line per refusal: each costs its sender more than 64 KiB
            logger.warning(
                "request head too large: refused",
                extra={"event": "request-head-too-large", "status": 431},
            )
            self.refuse(_TOO_LARGE)

    def _began(self) -> None:
        self._since = _NOW[0]
        self._phase = _HEAD

    def on_message_begin(self) -> None:
        if self._phase == _IDLE:  # the next request, in the read that completed the last one
            self._began()
        super().on_message_begin()

    def on_headers_complete(self) -> None:
        super().on_headers_complete()
        self._phase = _BODY

    def on_body(self, body: bytes) -> None:
        self._framing -= len(body)
        super().on_body(body)

    def on_message_complete(self) -> None:
        self._framing = 0
        self._phase = _IDLE
        super().on_message_complete()

    def unanswered(self) -> bool:
        """Whether nothing has been sent for the current request (its head or body is coming).

        While a head comes, the cycle (if any) is the previous request's; once the head is in,
        it is this request's own, and one answered early (a 413 by Content-Length, a 401)
        must not get a second answer after it.
        """
        cycle = self.cycle
        if self._phase == _BODY and cycle is not None:
            return not cycle.response_started
        return cycle is None or cycle.response_complete or not cycle.response_started

    def refuse(self, answer: bytes) -> None:
        """Send ``answer`` if nothing has answered this request yet, and close.

        A request the app already answered (trailers arriving after its response) just
        ends here: a second answer on the connection would be garbage to the client.
        One the app is still reading sees the client leave. The callers log.
        """
        if self.unanswered():
            self.transport.write(answer)
        self.transport.close()


async def _sweep(loop: asyncio.AbstractEventLoop, connections: set[Any]) -> None:
    """Close the connections whose request head has taken more than :data:`HEAD_SECONDS`,
    or whose whole request more than :data:`MESSAGE_SECONDS`.

    A client that trickles its head (a byte every few seconds, under the size bound)
    held a connection, and with many of them every connection slot (red-team, fourth
    pass); trickling the body did the same, and held a request in the app too.
    uvicorn's keep-alive timeout covers only the wait between requests. Each sweep logs
    one WARNING per kind with the number of connections it closed, not one per
    connection: a flood of silent connections must not set the log's volume.
    """
    with contextlib.suppress(asyncio.CancelledError):
        while True:
            await asyncio.sleep(SWEEP_SECONDS)
            now = _NOW[0] = loop.time()
            heads = bodies = 0
            for conn in list(connections):
                if not isinstance(conn, BoundedHead) or conn._phase == _IDLE:
                    continue  # no request arriving (between requests)
                if conn.transport.is_closing():
                    continue
                age = now - conn._since
                if conn._phase == _HEAD:
                    if age > HEAD_SECONDS:
                        conn.refuse(_TOO_SLOW)
                        heads += 1
                elif age > MESSAGE_SECONDS:
                    conn.refuse(_BODY_TOO_SLOW)
                    bodies += 1
            for closed, message, event in (
                (heads, "request head too slow: connections closed", "request-head-timeout"),
                (bodies, "request body too slow: connections closed", "request-body-timeout"),
            ):
                if closed:
                    logger.warning(
                        message, extra={"event": event, "status": 408, "connections": closed}
                    )


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
