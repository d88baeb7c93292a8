"""The service's own endpoints: the two translations, health, readiness, metrics, docs.

``POST /v1/outbound`` takes one internal record, or a list of up to
``SHIM_MAX_BATCH``, and answers the external record(s) in the view of the
``Shim-Group`` group; ``POST /v1/inbound`` takes an external payload and answers
the internal fields (only fields the mapping opens inbound for that group;
anything else is a 422 with pointers). Both serve ``side: internal`` callers
only (403 for external ones, audited). Each is a straight line through the
:class:`~.pipeline.Shim` steps: gate, body, schema, translation, encoding,
audit. They are raw ASGI handlers (:class:`Translate`): the hot path.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, Final

import anyio.to_thread
import orjson
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from .access_openapi import with_access_paths
from .logs import exception_fields, logger
from .metrics import CONTENT_TYPE
from .openapi_view import OpenAPIViews
from .problems import HTTPProblem, problem_response

if TYPE_CHECKING:
    from .pipeline import Shim

__all__ = ["INBOUND", "OUTBOUND", "Endpoints", "Translate"]

OUTBOUND: Final = "POST /v1/outbound"
INBOUND: Final = "POST /v1/inbound"
_JSON: Final = "application/json"


def _json(data: Any, status: int = 200) -> Response:
    return Response(orjson.dumps(data), status, media_type=_JSON)


class Translate:
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


class Endpoints:
    """The endpoint functions of one app, closed over its :class:`Shim`."""

    def __init__(self, shim: Shim) -> None:
        self.shim = shim
        self.all_groups = shim.groups
        doc = shim.spec.openapi
        if shim.access is not None:  # the grant endpoints this app serves are in its document
            spec = shim.spec
            mapping = f"{spec.name}; version={spec.version}; sha256={spec.sha256}"
            doc = with_access_paths(doc, sorted(spec.elevated), mapping)
        # whole for internal callers; for external ones, their groups' operations only
        self.openapi = OpenAPIViews(doc, shim.spec.routes)

    async def outbound(self, scope: Scope, receive: Receive) -> bytes:
        shim = self.shim
        scope["shim.route"] = OUTBOUND
        caller, group = await shim.gate(scope, self.all_groups, "outbound")
        status, crossed = 500, 0  # what the audit says if something unexpected breaks
        try:
            if not caller.internal:
                raise self.external_refused()
            document = await shim.json_body(scope, receive)
            shim.still_admitted(scope, caller)  # no tracking deny opened meanwhile
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
            shim.still_admitted(scope, caller)  # no tracking deny opened meanwhile
            if group in shim.guarded:  # the grant still holds once the body is in
                await shim.recheck(scope, caller, group)
            shim.check_schema(shim.v_inbound, document, "the request body")
            encoded = shim.encode(
                shim.translate_in(document, group, internal=caller.internal), indexed=False
            )
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
        sink = shim.sink
        checks = {
            "keys": shim.keys_loaded,
            # check() raises (AuditError) if an append would fail now
            "audit": await _answers(
                sink.check if sink is not None else None,
                "audit sink",
                sink is not None and sink.blocking,
            ),
        }
        if shim.access is not None:  # no guarded request can pass without the grant store
            grants = shim.access.grants
            checks["grants"] = await _answers(
                grants.ping if grants is not None else None, "grant store", True
            )
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

    async def metrics(self, request: Request) -> Response:
        request.scope["shim.route"] = "GET /metrics"
        return Response(self.shim.metrics.exposition(), media_type=CONTENT_TYPE)

    async def openapi_json(self, request: Request) -> Response:
        """The document for an authenticated caller: whole for an internal one, else its view."""
        request.scope["shim.route"] = "GET /openapi.json"
        caller = await self.shim.admit(request.scope, "openapi")
        return Response(self.openapi.for_caller(caller.internal, caller.groups), media_type=_JSON)


async def _answers(check: Callable[[], object] | None, what: str, in_thread: bool) -> bool:
    """True if ``check`` returns (in a worker thread if it blocks); False, with a WARNING
    naming ``what`` and the error, if it raises or there is nothing to check yet."""
    if check is None:
        return False
    try:
        if in_thread:
            await anyio.to_thread.run_sync(check)
        else:
            check()
        return True
    except Exception as exc:
        logger.warning(
            f"{what} check failed", extra={"event": "not-ready", **exception_fields(exc)}
        )
        return False
