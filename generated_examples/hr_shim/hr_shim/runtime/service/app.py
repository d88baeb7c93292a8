"""The shim's ASGI service: a generated mapping's :class:`ShimSpec` made a Starlette app.

A generated package's ``app.py`` describes its mapping as a :class:`ShimSpec`
and calls :func:`build_app`, which wires the parts together:

* ``POST /v1/outbound`` and ``POST /v1/inbound``, the translations (:mod:`.endpoints`);
* the proxy routes of the mapping (see :mod:`.proxy`);
* the grant endpoints of elevated groups (:mod:`.access`);
* ``GET /healthz`` (alive), ``GET /readyz`` (keys, audit sink, grant store, upstream),
  ``GET /metrics`` (Prometheus; keep it off the public network),
  ``GET /openapi.json`` - these need no credentials;
* the envelope every request passes (:mod:`.envelope`: request ids, headers,
  metrics, access log, last-resort 500), and the lifespan that opens the keys,
  audit sink, grant store and shared store at start-up and closes them.

Logging: JSON lines (:mod:`.logs`); one access line per request, with the route's
template and never a value (:mod:`.access_log`; ``SHIM_ACCESS_LOG=off`` turns it off).
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import anyio.to_thread
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from ..audit import trail as audit
from ..audit.checkpoint import CheckpointPublisher
from ..audit.recorder import Recorder
from ..core import keys
from .elevation import ElevatedSpec
from .endpoints import Endpoints, Translate
from .envelope import Envelope, FastApp, RequestIds
from .grant_store import GrantStoreError
from .logs import configure, exception_fields, logger
from .pipeline import Shim
from .problems import HTTPProblem, http_exception_handler, problem_handler
from .proxy import ProxyRoute, Upstream
from .settings import Settings
from .tracking import Tracker
from .tracking_store import BaselineStore

__all__ = ["ElevatedSpec", "RouteSpec", "Shim", "ShimSpec", "build_app"]


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


def build_app(spec: ShimSpec, settings: Settings) -> Starlette:
    """The shim's ASGI app; configuration errors (callers file, openapi.json) raise here."""
    configure(settings.log_level)
    shim = Shim(spec, settings)
    ep = Endpoints(shim)
    fast = {"/v1/outbound": Translate(ep.outbound), "/v1/inbound": Translate(ep.inbound)}
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
        # Tracking's baselines as the last run left them (a restart no longer starts the
        # warm-up over), saved while serving and at shutdown.
        app.state.baselines = baselines = await _open_baselines(settings.audit_url, shim.tracker)
        # Batched metric counts reach prometheus-client (and so the other workers' /metrics)
        # at most this late; the last ones at shutdown.
        shim.metrics.start_flushing()
        try:
            yield
        finally:
            shim.metrics.stop_flushing()
            if baselines is not None:
                await baselines.stop()
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

    async def unrouted(request: Request, exc: Exception) -> Response:
        """Starlette's 404/405 as problems; a caller with valid credentials is charged,
        audited and tracked for it (:meth:`Shim.unrouted`)."""
        if isinstance(exc, HTTPException) and exc.status_code in (404, 405):
            try:
                await shim.unrouted(request.scope, exc.status_code)
            except HTTPProblem as refused:  # over its rate limit, or denied by tracking
                return await problem_handler(request, refused)
        return await http_exception_handler(request, exc)

    app = FastApp(
        debug=False,
        routes=routes,
        lifespan=lifespan,
        exception_handlers={HTTPProblem: problem_handler, HTTPException: unrouted},
    )
    # No redirect to the path with(out) a trailing slash: Starlette builds its Location
    # from the caller's Host header, before any authentication, so a token in the path
    # would be sent to whatever host the caller named. Such a path is a 404.
    app.router.redirect_slashes = False
    ids = RequestIds()
    app.add_middleware(Envelope, shim=shim, fast=fast, ids=ids)
    app.fast_envelope = Envelope(app.router, shim, fast, ids)
    app.state.shim = shim
    return app


async def _open_baselines(audit_url: str, tracker: Tracker | None) -> BaselineStore | None:
    """Tracking's baselines loaded from beside the audit trail, then saved there while serving
    (.tracking_store); None without tracking or where nothing can be kept beside the trail."""
    if tracker is None:
        return None
    try:  # in a thread: a PostgreSQL store connects at once
        store = await anyio.to_thread.run_sync(BaselineStore, audit_url, tracker)
    except GrantStoreError:
        return None
    await store.load()
    store.start()
    return store


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
            else (
                logging.ERROR,
                "audit checkpoint not written to its file yet; tried again with the next one",
                "audit-checkpoint",
            )
        )
        logger.handle(
            logger.makeRecord(
                logger.name, level, __file__, 0, message, (), None,
                extra={"event": event, "checkpoint": checkpoint},
            )
        )  # fmt: skip

    return publish
