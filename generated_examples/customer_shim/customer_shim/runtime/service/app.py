"""The shim's ASGI service: translation endpoints, proxy routes, health, metrics, docs.

A generated package's ``app.py`` describes its mapping as a :class:`ShimSpec`
and calls :func:`build_app`; this module turns that into a Starlette app:

* ``POST /v1/outbound``: one internal record, or a list of up to
  ``SHIM_MAX_BATCH``, -> external, in the view of the ``Shim-Group`` group;
* ``POST /v1/inbound``: an external payload -> internal fields (only fields the
  mapping opens inbound for that group; anything else is a 422 with pointers);
  both serve ``side: internal`` callers only (403 for external ones, audited);
* the proxy routes of the mapping (see :mod:`.proxy`);
* ``GET /healthz`` (alive), ``GET /readyz`` (keys, audit sink, grant store, upstream),
  ``GET /metrics`` (Prometheus; keep it off the public network),
  ``GET /openapi.json`` - these need no credentials.

Every response, errors included, carries ``Shim-Mapping: <name>; version=<n>;
sha256=<hex>`` and ``X-Request-Id`` (always the shim's own id; a caller's sane
``X-Request-Id`` is kept beside it in the audit record). Both are added by
:class:`_Envelope`, a plain ASGI middleware (no ``BaseHTTPMiddleware``, which
costs a task per request) that also owns the last-resort 500, the access log and
the request metrics. Errors are ``application/problem+json`` (:mod:`.problems`).

Performance: the two translation endpoints are raw ASGI apps that the envelope
calls directly for ``POST`` on their exact paths (Starlette routing, ``Request``
and ``Response`` are skipped; everything else goes through Starlette as usual),
bodies are parsed and written with orjson, schemas are compiled at start-up,
metrics are plain-Python counts flushed to prometheus-client periodically and
before each scrape, and audit events reach the sink through
:class:`~.recorder.Recorder` (group commit when the sink supports it).

Logging: JSON lines (:mod:`.logs`); one access line per request, with the route's
template and never a value (:mod:`.access_log`; ``SHIM_ACCESS_LOG=off`` turns it off).
"""

from __future__ import annotations

import itertools
import logging
import os
import re
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any, Final

import anyio.to_thread
import orjson
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ..audit import trail as audit
from ..audit.checkpoint import CheckpointPublisher
from ..audit.recorder import Recorder
from ..core import keys
from .access_log import log_access
from .access_openapi import with_access_paths
from .elevation import ElevatedSpec
from .logs import configure, exception_fields, logger
from .metrics import CONTENT_TYPE
from .pipeline import Shim
from .problems import HTTPProblem, http_exception_handler, problem_handler, problem_response
from .proxy import ProxyRoute, Upstream
from .settings import Settings

__all__ = ["INBOUND", "OUTBOUND", "ElevatedSpec", "RouteSpec", "Shim", "ShimSpec", "build_app"]

OUTBOUND: Final = "POST /v1/outbound"
INBOUND: Final = "POST /v1/inbound"
_JSON: Final = "application/json"
_REQUEST_ID = re.compile(rb"[A-Za-z0-9._:-]{1,128}")
# The only request headers the shim reads; the envelope collects just these, decoded.
_READ_HEADERS: Final = {
    name: name.decode("latin-1")
    for name in (b"x-api-key", b"authorization", b"shim-group", b"content-type",
                 b"content-length", b"x-request-id")
}  # fmt: skip


@dataclass(frozen=True)
class RouteSpec:
    """A proxy route, as the generated ``app.py`` declares it from the mapping."""

    method: str
    path: str
    internal_method: str
    internal_path: str
    # (name, external dotted path, internal dotted path, name in the internal path)
    params: tuple[tuple[str, str, str, str], ...]
    groups: frozenset[str]
    query: tuple[str, ...]
    has_body: bool


@dataclass(frozen=True)
class ShimSpec:
    """Everything the service needs to know about one mapping (rendered into ``app.py``)."""

    name: str
    version: int
    sha256: str
    groups: tuple[str, ...]
    to_external: Callable[[dict[str, Any], str | None], dict[str, Any]]
    to_internal: Callable[[dict[str, Any], str | None], dict[str, Any]]
    openapi: dict[str, Any]
    fields_out: Mapping[str, tuple[str, ...]]
    fields_in: Mapping[str, tuple[str, ...]]
    routes: tuple[RouteSpec, ...] = ()
    upstream_env: str | None = None
    upstream_timeout: float | None = None
    # (internal field path, external field path) of every inbound field, as segments
    # ("[]" for array items): points a misfit internal value back at what the caller sent
    inbound_paths: tuple[tuple[tuple[str, ...], tuple[str, ...]], ...] = ()
    # elevated group -> how it is held (rotational access, see .elevation); other groups
    # are standing memberships
    elevated: Mapping[str, ElevatedSpec] = field(default_factory=dict)
    # group -> sensitive levels ("pii", "secret") a record in its view carries, and
    # tracking kind -> effect (the mapping's tracking:); see .tracking
    classes_out: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    tracking: Mapping[str, str] = field(default_factory=dict)


def _json(data: Any, status: int = 200) -> Response:
    return Response(orjson.dumps(data), status, media_type=_JSON)


class _Translate:
    """A translation endpoint as a raw ASGI app: no Request object, no Response class.

    These are the hot paths, so they skip Starlette's per-request machinery.
    On the hot path the envelope runs ``handler`` and sends this same answer
    itself (with its headers, no wrapping ``send``); ``__call__`` serves when
    the endpoint is reached as an ordinary route, under a root path. Keep the
    two answers alike.
    """

    def __init__(self, handler: Callable[[Scope, Receive], Awaitable[bytes]]) -> None:
        self.handler = handler

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            body = await self.handler(scope, receive)
        except HTTPProblem as problem:
            await problem_response(problem, scope["shim.request_id"])(scope, receive, send)
            return
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode("latin-1")),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})


class _Endpoints:
    """The endpoint functions of one app, closed over its :class:`Shim`."""

    def __init__(self, shim: Shim) -> None:
        self.shim = shim
        self.all_groups = shim.groups
        doc = shim.spec.openapi
        if shim.access is not None:  # the grant endpoints this app serves are in its document
            spec = shim.spec
            mapping = f"{spec.name}; version={spec.version}; sha256={spec.sha256}"
            doc = with_access_paths(doc, sorted(spec.elevated), mapping)
        self.openapi = orjson.dumps(doc)

    async def outbound(self, scope: Scope, receive: Receive) -> bytes:
        shim = self.shim
        scope["shim.route"] = OUTBOUND
        caller, group = await shim.gate(scope, self.all_groups, "outbound")
        status, crossed = 500, 0  # what the audit says if something unexpected breaks
        try:
            if not caller.internal:
                raise self.external_refused()
            document = await shim.json_body(scope, receive)
            if group in shim.guarded:  # the grant still holds once the body is in
                await shim.recheck(scope, caller, group)
            many = document.__class__ is list
            if many:
                if len(document) > shim.settings.max_batch:
                    raise HTTPProblem(
                        413, f"a batch may hold at most {shim.settings.max_batch} records"
                    )
                records = document
                problems = shim.v_internal.problems_each(records)
            else:
                records = [document]
                problems = shim.v_internal.problems(document)
            if problems:
                raise HTTPProblem(
                    422, "the request body does not match the internal schema; see errors",
                    errors=problems,
                )  # fmt: skip
            out = shim.translate_out(records, group, indexed=many)
            problems = (
                shim.v_external.problems_each(out) if many else shim.v_external.problems(out[0])
            )
            if problems:
                raise HTTPProblem(
                    422,
                    "the translated record does not satisfy the external schema; the errors "
                    "point into the external record",
                    slug="external-schema-violation",
                    title="Translation failed",
                    errors=problems,
                )
            encoded = shim.encode(out if many else out[0], indexed=many)
            status, crossed = 200, len(records)
        except HTTPProblem as problem:
            status = problem.status
            raise
        except ClientDisconnect:
            status = 499  # the caller left while its body was read: nothing was sent
            raise
        finally:
            await shim.audit(scope, caller, group, "outbound", crossed, status)
        shim.metrics.records("outbound", group, crossed)
        return encoded

    async def inbound(self, scope: Scope, receive: Receive) -> bytes:
        shim = self.shim
        scope["shim.route"] = INBOUND
        caller, group = await shim.gate(scope, self.all_groups, "inbound")
        status, crossed = 500, 0
        try:
            if not caller.internal:
                raise self.external_refused()
            document = await shim.json_body(scope, receive)
            if group in shim.guarded:  # the grant still holds once the body is in
                await shim.recheck(scope, caller, group)
            shim.check_schema(shim.v_inbound, document, "the request body")
            encoded = shim.encode(shim.translate_in(document, group), indexed=False)
            status, crossed = 200, 1
        except HTTPProblem as problem:
            status = problem.status
            raise
        except ClientDisconnect:
            status = 499
            raise
        finally:
            await shim.audit(scope, caller, group, "inbound", crossed, status)
        shim.metrics.records("inbound", group, 1)
        return encoded

    @staticmethod
    def external_refused() -> HTTPProblem:
        """403 for an external caller on a translation endpoint (audited, with no records).

        Outbound takes internal records (a caller choosing them could mint a token for
        any internal value) and inbound returns internal values (detokenization): both
        belong to the internal domain only.
        """
        return HTTPProblem(
            403,
            "this endpoint serves internal callers only; external callers use the proxy routes",
            slug="internal-only",
            title="Internal callers only",
        )

    async def healthz(self, request: Request) -> Response:
        request.scope["shim.route"] = "GET /healthz"
        return _json({"status": "ok"})

    async def readyz(self, request: Request) -> Response:
        """Ready when keys are loaded, the audit sink is writable, the grant store (elevated
        groups only) and the upstream answer."""
        request.scope["shim.route"] = "GET /readyz"
        shim = self.shim
        checks = {"keys": shim.keys_loaded, "audit": await self._sink_ok()}
        if shim.access is not None:
            checks["grants"] = await shim.access.ready()
        if shim.upstream is not None:
            checks["upstream"] = await shim.upstream.reachable()
        failing = [name for name, ok in checks.items() if not ok]
        if failing:
            for name in failing:
                logger.warning(
                    "readiness check failing", extra={"event": "not-ready", "check": name}
                )
            raise HTTPProblem(
                503, f"not ready; failing checks: {', '.join(failing)}", slug="not-ready",
                title="Not ready",
            )  # fmt: skip
        return _json({"status": "ready", "checks": dict.fromkeys(checks, "ok")})

    async def _sink_ok(self) -> bool:
        sink = self.shim.sink
        if sink is None:
            return False
        try:  # check() raises (AuditError) if an append would fail now
            if sink.blocking:
                await anyio.to_thread.run_sync(sink.check)
            else:
                sink.check()
            return True
        except Exception as exc:
            logger.warning("audit sink check failed", extra={"event": "not-ready",
                                                             **exception_fields(exc)})  # fmt: skip
            return False

    async def metrics(self, request: Request) -> Response:
        request.scope["shim.route"] = "GET /metrics"
        return Response(self.shim.metrics.exposition(), media_type=CONTENT_TYPE)

    async def openapi_json(self, request: Request) -> Response:
        request.scope["shim.route"] = "GET /openapi.json"
        return Response(self.openapi, media_type=_JSON)


class _RequestIds:
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


class _Envelope:
    """Pure ASGI middleware: request id, ``Shim-Mapping``, last-resort 500, metrics, access log."""

    def __init__(
        self, app: ASGIApp, shim: Shim, fast: Mapping[str, _Translate], ids: _RequestIds
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
            else:  # a translation endpoint: its handler, then _Translate's answer sent from here
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


def build_app(spec: ShimSpec, settings: Settings) -> Starlette:
    """The shim's ASGI app; configuration errors (callers file, openapi.json) raise here."""
    configure(settings.log_level)
    shim = Shim(spec, settings)
    ep = _Endpoints(shim)
    fast = {"/v1/outbound": _Translate(ep.outbound), "/v1/inbound": _Translate(ep.inbound)}
    routes = [
        _route("/v1/outbound", fast["/v1/outbound"], "POST"),
        _route("/v1/inbound", fast["/v1/inbound"], "POST"),
        _route("/healthz", ep.healthz, "GET"),
        _route("/readyz", ep.readyz, "GET"),
        _route("/metrics", ep.metrics, "GET"),
        _route("/openapi.json", ep.openapi_json, "GET"),
    ]
    for route in spec.routes:
        routes.append(_route(route.path, ProxyRoute(shim, route).handle, route.method))
    if shim.access is not None:  # elevated groups: the grant endpoints (see .access)
        routes += [
            _route(path, endpoint, method) for path, endpoint, method in shim.access.routes()
        ]

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        """Keys, audit sink and grant store at start-up (a problem stops the shim), closed at
        shutdown."""
        try:
            keyset = keys.load_keyset()
            audit_key = keyset.audit_key  # no audit signing key: no start (no unsigned mode)
            keys.install(keyset)
            shim.keys_loaded = True
            shim.sink = audit.open_sink(settings.audit_url, settings.instance)
            shim.recorder = Recorder(shim.sink)
            checkpoints = CheckpointPublisher(
                shim.sink,
                audit_key,
                settings.audit_checkpoints or audit.default_checkpoints(settings.audit_url),
                settings.audit_checkpoint_interval,
                on_publish=_publish_checkpoint(shim),
            )
            app.state.checkpoints = checkpoints
            if shim.access is not None:
                await shim.access.open()  # the grant store (a store that is down only refuses)
        except Exception as exc:
            logger.critical(
                f"cannot start: {exc}", extra={"event": "startup-failed", **exception_fields(exc)}
            )
            raise
        if settings.upstream_url is not None:
            # The mapping's timeout is the longest a route may wait; SHIM_UPSTREAM_TIMEOUT may tighten it.
            timeout = min(
                spec.upstream_timeout or settings.upstream_timeout, settings.upstream_timeout
            )
            shim.upstream = Upstream(settings.upstream_url, timeout)
        if settings.shared_store_url is not None:
            from .shared import SharedLimiter  # imports redis: only when a store is set

            shim.shared = SharedLimiter.connect(
                settings.shared_store_url,
                shim.limiter,
                spec.name,
                settings.shared_store_timeout,
                shim.metrics,
            )
            if shim.tracker is not None:  # tracking counts through the same store and client
                from .shared_tracking import SharedTracking

                shim.tracking_sync = SharedTracking(shim.shared, shim.tracker)
                shim.tracking_sync.start()
        # Batched metric counts reach prometheus-client (and so the other workers' /metrics)
        # at most this late; the last ones at shutdown.
        shim.metrics.start_flushing()
        try:
            yield
        finally:
            shim.metrics.stop_flushing()
            if shim.access is not None:
                await shim.access.close()
            if shim.tracking_sync is not None:
                await shim.tracking_sync.stop()
                shim.tracking_sync = None
            if shim.shared is not None:
                await shim.shared.aclose()
                shim.shared = None
            if shim.upstream is not None:
                await shim.upstream.aclose()
            shim.recorder.close()
            checkpoints.close()  # the final checkpoint covers every record written
            shim.sink.close()

    app = _ShimApp(
        debug=False,
        routes=routes,
        lifespan=lifespan,
        exception_handlers={HTTPProblem: problem_handler, HTTPException: http_exception_handler},
    )
    # No redirect to the path with(out) a trailing slash: Starlette builds its Location
    # from the caller's Host header, before any authentication, so a token in the path
    # would be sent to whatever host the caller named. Such a path is a 404.
    app.router.redirect_slashes = False
    ids = _RequestIds()
    app.add_middleware(_Envelope, shim=shim, fast=fast, ids=ids)
    app.fast_envelope = _Envelope(app.router, shim, fast, ids)
    app.state.shim = shim
    return app


def _route(path: str, endpoint: Any, method: str) -> Route:
    """A route that serves ``method`` and nothing else (any other is a 405 problem).

    Starlette adds HEAD to every GET route; on a proxy route a HEAD would call the
    internal API with GET and be audited as a GET, a method nobody declared.
    """
    route = Route(path, endpoint, methods=[method])
    route.methods = {method}
    return route


def _publish_checkpoint(shim: Shim) -> Callable[[dict[str, Any], bool], None]:
    """Each signed audit checkpoint goes to the log and the metrics, besides its file."""

    def publish(checkpoint: dict[str, Any], written: bool) -> None:
        unix = time.time()
        shim.metrics.checkpoint(checkpoint["chain"], checkpoint["seq"], unix, written)
        # Logged whatever SHIM_LOG_LEVEL says (handle() skips the level check): the log is the
        # checkpoints' copy off the box, and a quiet log level must not drop it.
        level, message, event = (
            (logging.INFO, "audit checkpoint", "audit-checkpoint")
            if written
            else (logging.ERROR, "audit checkpoint not written to its file", "audit-checkpoint")
        )
        logger.handle(
            logger.makeRecord(
                logger.name, level, __file__, 0, message, (), None,
                extra={"event": event, "checkpoint": checkpoint},
            )
        )  # fmt: skip

    return publish


class _ShimApp(Starlette):
    """Starlette, with the two translation endpoints dispatched straight to the envelope.

    Every other request takes Starlette's full middleware stack (with the same
    envelope inside it). The translation endpoints are the hot path, and the
    envelope already does what the outer layers would (last-resort 500, headers),
    so skipping Starlette's error middleware there saves its per-message wrapping.
    """

    fast_envelope: _Envelope

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "POST":
            envelope = self.fast_envelope
            if scope["path"] in envelope.fast:
                scope["app"] = self
                await envelope(scope, receive, send)
                return
        await super().__call__(scope, receive, send)
