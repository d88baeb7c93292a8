"""Proxy routes: an external path forwarded to the internal API, translated both ways.

A route declared in the mapping (``GET /customers/{customerId}`` ->
``GET /internal/customers/{id}``) is served like this:

1. the protected-request gate (size, authentication, group, the route's
   groups, rate limit), then for POST/PUT/PATCH the JSON body checks and the
   ``InboundPayload`` schema;
2. inbound translation: each path parameter is reversed through
   ``to_internal({<external field>: value}, group)`` (tokens detokenize) and read
   at its internal field; a parameter that does not reverse is a 404, since it
   names nothing this caller can reach. The body, if any, goes through
   ``to_internal`` too (mass-assignment guard, 422). One inbound audit event is
   written *before* anything is forwarded;
3. the upstream call, with one pooled ``httpx.AsyncClient``; only the declared
   query parameters, the translated body and ``X-Request-Id`` are sent;
4. the upstream answer: 404 -> 404; any other non-2xx, a connection error, a
   body that is not JSON, too large, not an object or list of objects, not valid
   against the internal schema, or untranslatable -> 502; a timeout -> 504.
   Otherwise each record is translated outbound for the caller's group, checked
   against ``ExternalRecord``, audited, and returned. No upstream header or body
   byte ever reaches the caller.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Final
from urllib.parse import quote

import anyio
import httpx
import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Scope

from .errors import TranslationError
from .logs import logger
from .problems import HTTPProblem
from .support import put
from .validate import too_deep, unfit_problem

if TYPE_CHECKING:
    from .service import RouteSpec, Shim

__all__ = ["ProxyRoute", "Upstream"]

_JSON: Final = "application/json"
_PASS_STATUSES: Final = frozenset({200, 201, 202})


class Upstream:
    """The internal API: one connection-pooled client for the whole process.

    Redirects are not followed (a redirect is an upstream error, 502) and the
    overall deadline per call is ``timeout`` seconds on top of httpx's
    per-phase timeouts, so a slow-dripping upstream still ends in a 504.
    """

    def __init__(
        self,
        base_url: str,
        timeout: float,
        max_connections: int = 100,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.timeout = timeout
        self.client = httpx.AsyncClient(
            base_url=base_url,
            transport=transport,  # tests pass an ASGI transport; None is the real network
            timeout=httpx.Timeout(timeout),
            limits=httpx.Limits(
                max_connections=max_connections,
                max_keepalive_connections=max(1, max_connections // 5),
                keepalive_expiry=30.0,
            ),
            follow_redirects=False,
            headers={"user-agent": "shimgen-shim", "accept": _JSON},
        )

    async def reachable(self) -> bool:
        """Readiness: any HTTP answer to ``HEAD <base URL>`` counts as reachable."""
        try:
            with anyio.fail_after(min(self.timeout, 2.0)):
                await self.client.head("")
        except (httpx.HTTPError, TimeoutError):
            return False
        return True

    async def call(
        self,
        method: str,
        path: str,
        query: list[tuple[str, str | int | float | bool | None]],
        body: bytes | None,
        request_id: str,
        max_bytes: int,
    ) -> tuple[int, str, bytes]:
        """Status, media type and (bounded) body of the upstream's answer; 502/504 on failure."""
        headers = {"x-request-id": request_id}
        if body is not None:
            headers["content-type"] = _JSON
        request = self.client.build_request(
            method, path, params=query, content=body, headers=headers
        )
        try:
            with anyio.fail_after(self.timeout):
                response = await self.client.send(request, stream=True)
                try:
                    chunks: list[bytes] = []
                    size = 0
                    async for chunk in response.aiter_raw():
                        size += len(chunk)
                        if size > max_bytes:
                            _log_upstream("upstream-too-large", response.status_code)
                            raise _bad_gateway()
                        chunks.append(chunk)
                finally:
                    await response.aclose()
        except (httpx.TimeoutException, TimeoutError):
            raise HTTPProblem(504, "the internal API did not answer in time") from None
        except httpx.HTTPError as exc:
            logger.error(
                "upstream call failed",
                extra={"event": "upstream-error", "error_type": type(exc).__name__},
            )
            raise _bad_gateway() from None
        media = response.headers.get("content-type", "").partition(";")[0].strip().lower()
        return response.status_code, media, b"".join(chunks)

    async def aclose(self) -> None:
        await self.client.aclose()


def _bad_gateway() -> HTTPProblem:
    return HTTPProblem(502, "the internal API's answer could not be used")


def _log_upstream(event: str, status: int | None = None) -> None:
    logger.error("upstream answer refused", extra={"event": event, "upstream_status": status})


def _schema_at(openapi: Mapping[str, Any], root: str, path: list[str]) -> Any:
    """The schema of ``path`` under components.schemas.``root``, following local $refs."""
    schemas = openapi.get("components", {}).get("schemas", {})
    node: Any = {"$ref": f"#/components/schemas/{root}"}
    for step in [None, *path]:
        for _ in range(32):  # $ref chains, bounded
            ref = node.get("$ref") if isinstance(node, Mapping) else None
            if not isinstance(ref, str) or not ref.startswith("#/components/schemas/"):
                break
            node = schemas.get(ref.rsplit("/", 1)[1], {})
        if step is not None:
            props = node.get("properties", {}) if isinstance(node, Mapping) else {}
            node = props.get(step, {})
    return node


def _wants_int(schema: Any) -> bool:
    """True if a path parameter's external field is an integer (paths are text)."""
    kind = schema.get("type") if isinstance(schema, Mapping) else None
    kinds = kind if isinstance(kind, list) else [kind]
    return "integer" in kinds and "string" not in kinds


class ProxyRoute:
    """The endpoint for one :class:`RouteSpec`."""

    def __init__(self, shim: Shim, route: RouteSpec) -> None:
        self.shim = shim
        self.route = route
        self.label = f"{route.method} {route.path}"
        self.query = frozenset(route.query)
        self.params: list[tuple[str, tuple[str, ...], tuple[str, ...], str, bool]] = []
        for name, ext, internal, internal_name in route.params:
            ext_path = tuple(ext.split("."))
            wants_int = _wants_int(_schema_at(shim.spec.openapi, "InboundPayload", list(ext_path)))
            self.params.append(
                (name, ext_path, tuple(internal.split(".")), internal_name, wants_int)
            )

    async def handle(self, request: Request) -> Response:
        shim, route = self.shim, self.route
        scope = request.scope
        scope["shim.route"] = self.label
        caller, group = shim.gate(scope, route.groups)
        body: Any = None
        if route.has_body:
            body = await shim.json_body(scope, request.receive)
            shim.check_schema(shim.v_inbound, body, "the request body")
        upstream = shim.upstream
        if upstream is None:
            raise HTTPProblem(
                503,
                "this route's internal API is not configured",
                slug="upstream-not-configured",
            )
        request_id: str = scope["shim.request_id"]
        path, payload = route.internal_path, None
        if self.params or route.has_body:
            status = 500  # what the audit says if something unexpected breaks
            try:
                path = self._internal_path(request.path_params, group)
                if route.has_body:
                    payload = orjson.dumps(shim.translate_in(body, group))
                status = 200
            except HTTPProblem as problem:
                status = problem.status
                raise
            finally:
                await shim.audit(scope, caller, group, "inbound", 1, status)
        query: list[tuple[str, str | int | float | bool | None]] = [
            (k, v) for k, v in request.query_params.multi_items() if k in self.query
        ]
        limit = shim.settings.max_body_bytes * 16
        code, media, raw = await upstream.call(
            route.internal_method, path, query, payload, request_id, limit
        )
        if code == 404:
            raise HTTPProblem(404, "the internal API has no such resource")
        if not 200 <= code < 300:
            _log_upstream("upstream-status", code)
            raise _bad_gateway()
        if code == 204 or not raw:
            return Response(status_code=204)
        return await self._outbound(scope, caller, group, code, media, raw)

    def _internal_path(self, values: Mapping[str, Any], group: str) -> str:
        """Reverse every path parameter through to_internal; a 404 for one that does not."""
        path = self.route.internal_path
        if not self.params:
            return path
        not_found = HTTPProblem(404, "the path does not name a resource this caller can reach")
        payload: dict[str, Any] = {}
        for name, ext, _, _, wants_int in self.params:
            value: Any = values.get(name)
            if wants_int:
                if not isinstance(value, str) or not value.lstrip("-").isdigit():
                    raise not_found
                value = int(value)
            put(payload, ext, value)
        try:
            internal = self.shim.spec.to_internal(payload, group)
        except TranslationError:
            raise not_found from None
        problems = self.shim.internal_fit.problems(internal)  # detokenized values must fit
        if problems:
            raise unfit_problem(problems)
        for _, _, path_in, internal_name, _ in self.params:
            found: Any = internal
            for key in path_in:
                found = found.get(key) if isinstance(found, dict) else None
            if isinstance(found, bool) or not isinstance(found, (str, int)):
                raise not_found
            text = str(found)
            if text in ("", ".", ".."):
                raise not_found  # would change the internal path's meaning
            path = path.replace("{" + internal_name + "}", quote(text, safe=""))
        return path

    async def _outbound(
        self, scope: Scope, caller: Any, group: str, code: int, media: str, raw: bytes
    ) -> Response:
        shim = self.shim
        if media != _JSON and not media.endswith("+json"):
            _log_upstream("upstream-not-json", code)
            raise _bad_gateway()
        try:
            doc = orjson.loads(raw)
        except orjson.JSONDecodeError:
            _log_upstream("upstream-not-json", code)
            raise _bad_gateway() from None
        many = doc.__class__ is list
        records: list[Any] = doc if many else [doc]
        if (
            too_deep(doc, shim.settings.max_depth)
            or not all(r.__class__ is dict for r in records)
            or shim.v_internal.problems_each(records)
        ):
            _log_upstream("upstream-invalid", code)
            raise _bad_gateway()
        status = 500
        try:
            out = shim.translate_out(records, group)
            if shim.v_external.problems_each(out):
                raise HTTPProblem(422, "untranslatable")
            status = code if code in _PASS_STATUSES else 200
        except HTTPProblem:
            status = 502
            _log_upstream("upstream-untranslatable", code)
            raise _bad_gateway() from None
        finally:
            await shim.audit(scope, caller, group, "outbound", len(records), status)
        shim.metrics.records("outbound", group, len(records))
        return Response(orjson.dumps(out if many else out[0]), status, media_type=_JSON)
