"""The hot path's ASGI layer: request ids, response headers, metrics, access log, last-resort 500.

Every response, errors included, carries ``Shim-Mapping: <name>; version=<n>;
sha256=<hex>`` and ``X-Request-Id`` (always the shim's own id; a caller's sane
``X-Request-Id`` is kept beside it in the audit record). Both are added by
:class:`Envelope`, a plain ASGI middleware (no ``BaseHTTPMiddleware``, which
costs a task per request) that also owns the last-resort 500, the access log and
the request metrics. Errors are ``application/problem+json`` (:mod:`.problems`).

Performance: the two translation endpoints are raw ASGI apps that the envelope
calls directly for ``POST`` on their exact paths (:class:`FastApp`: Starlette
routing, ``Request`` and ``Response`` are skipped; everything else goes through
Starlette as usual), bodies are parsed and written with orjson, schemas are
compiled at start-up, metrics are plain-Python counts flushed to
prometheus-client periodically and before each scrape, and audit events reach
the sink through :class:`~..audit.recorder.Recorder` (group commit when the sink
supports it).
"""

from __future__ import annotations

import itertools
import os
import re
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Final

from starlette.applications import Starlette
from starlette.requests import ClientDisconnect
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .access_log import log_access
from .endpoints import Translate
from .logs import exception_fields, logger
from .problems import HTTPProblem, problem_response

if TYPE_CHECKING:
    from .pipeline import Shim

__all__ = ["Envelope", "FastApp", "RequestIds"]

_REQUEST_ID = re.compile(rb"[A-Za-z0-9._:-]{1,128}")
# The only request headers the shim reads; the envelope collects just these, decoded.
_READ_HEADERS: Final = {
    name: name.decode("latin-1")
    for name in (b"x-api-key", b"authorization", b"shim-group", b"content-type",
                 b"content-length", b"x-request-id")
}  # fmt: skip


class RequestIds:
    """The shim's own request ids: a random per-process prefix and a counter, no syscall each.

    One per app, shared by its two envelopes (the hot path's and Starlette's), so every
    request id of a process has the same prefix and none repeats.
    """

    __slots__ = ("_counter", "_prefix")

    def __init__(self) -> None:
        self._prefix = os.urandom(8).hex().encode()
        self._counter = itertools.count(1)

    def __call__(self) -> bytes:
        return b"%s%016x" % (self._prefix, next(self._counter))


class Envelope:
    """Pure ASGI middleware: request id, ``Shim-Mapping``, last-resort 500, metrics, access log."""

    def __init__(
        self, app: ASGIApp, shim: Shim, fast: Mapping[str, Translate], ids: RequestIds
    ) -> None:
        self.app = app
        self.shim = shim
        self.fast = dict(fast)  # POST path -> endpoint, called without routing
        spec = shim.spec
        self.mapping = f"{spec.name}; version={spec.version}; sha256={spec.sha256}".encode()
        self.ids = ids
        self.access_log = shim.settings.access_log

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        headers: dict[str, str] = {}
        theirs: str | None = None
        for name, value in scope["headers"]:
            key = _READ_HEADERS.get(name)
            # The first one wins, as in Starlette's Headers.
            if key is not None and key not in headers:
                headers[key] = value.decode("latin-1")
                if key == "x-request-id" and _REQUEST_ID.fullmatch(value):
                    theirs = headers[key]
        # The request id is always the shim's own, so a caller can neither collide with nor
        # impersonate another request in the audit trail; the caller's X-Request-Id (sane
        # ones only: 1-128 of [A-Za-z0-9._:-]) is kept beside it as caller_request_id.
        rid = self.ids()
        request_id = rid.decode()
        scope["shim.headers"] = headers
        scope["shim.request_id"] = request_id
        scope["shim.caller_request_id"] = theirs
        scope["shim.start"] = start
        extra = [(b"shim-mapping", self.mapping), (b"x-request-id", rid)]
        status = 0
        done = False

        def finish() -> None:
            # Recorded before the last body byte is sent, so a client that reads
            # /metrics right after its response already sees the request counted.
            nonlocal done
            done = True
            route = scope.get("shim.route")
            elapsed = time.perf_counter() - start
            self.shim.metrics.request(
                route or "unmatched", scope.get("shim.group"), status, elapsed
            )
            if self.access_log:
                log_access(scope, route, status, elapsed * 1000)

        async def send_with_headers(message: Message) -> None:
            nonlocal status
            kind = message["type"]
            if kind == "http.response.start":
                status = message["status"]
                message["headers"] = [*message.get("headers", ()), *extra]
                flag = scope.get("shim.flag")
                if flag:  # heuristic tracking: an open incident with effect flag or stronger
                    message["headers"].append((b"shim-flag", flag.encode()))
            elif kind == "http.response.body" and not message.get("more_body") and not done:
                finish()
            await send(message)

        try:
            fast = self.fast.get(scope["path"]) if scope["method"] == "POST" else None
            if fast is None:
                await self.app(scope, receive, send_with_headers)
            else:  # a translation endpoint: its handler, then Translate's answer sent from here
                try:
                    body = await fast.handler(scope, receive)
                except HTTPProblem as refused:
                    await problem_response(refused, request_id)(scope, receive, send_with_headers)
                else:
                    status = 200
                    sent = [
                        (b"content-type", b"application/json"),
                        (b"content-length", b"%d" % len(body)), *extra,
                    ]  # fmt: skip
                    flag = scope.get("shim.flag")
                    if flag:
                        sent.append((b"shim-flag", flag.encode()))
                    await send({"type": "http.response.start", "status": 200, "headers": sent})
                    finish()  # before the last body byte, as send_with_headers does
                    await send({"type": "http.response.body", "body": body})
        except ClientDisconnect:
            status = status or 499  # nginx's "client closed request"; nothing can be sent
        except Exception as exc:
            logger.error(
                "unexpected error", extra={"event": "error", "request_id": request_id,
                                           "route": scope.get("shim.route"),
                                           **exception_fields(exc)},
            )  # fmt: skip
            if not status:
                problem = HTTPProblem(
                    500, "an unexpected error occurred; quote the request id when reporting it"
                )
                await problem_response(problem, request_id)(scope, receive, send_with_headers)
        if not done:
            finish()


class FastApp(Starlette):
    """Starlette, with the two translation endpoints dispatched straight to the envelope.

    Every other request takes Starlette's full middleware stack (with the same
    envelope inside it). The translation endpoints are the hot path, and the
    envelope already does what the outer layers would (last-resort 500, headers),
    so skipping Starlette's error middleware there saves its per-message wrapping.
    """

    fast_envelope: Envelope

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "POST":
            envelope = self.fast_envelope
            if scope["path"] in envelope.fast:
                scope["app"] = self
                await envelope(scope, receive, send)
                return
        await super().__call__(scope, receive, send)
