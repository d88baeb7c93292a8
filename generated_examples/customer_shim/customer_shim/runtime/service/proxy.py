"""Proxy routes: an external path forwarded to the internal API, translated both ways.

A route declared in the mapping (``GET /customers/{customerId}`` ->
``GET /internal/customers/{id}``) is served like this:

1. the protected-request gate (size, authentication, group, the route's
   groups, rate limit), then for POST/PUT/PATCH the JSON body checks and the
   ``InboundPayload`` schema;
2. inbound translation: each path parameter is reversed through
   ``to_internal({<external field>: value}, group)`` (tokens detokenize) and read
   at its internal field; a parameter that does not reverse is a 404, since it
   names nothing this caller can reach (counted by tracking as the probe it is). The body, if any, goes through
   ``to_internal`` too (mass-assignment guard, 422), and a body field that
   lands on the same internal field as a path parameter must name the same
   object (422 otherwise: ``PATCH /customers/A`` with body id B is refused);
3. the upstream call (:mod:`.upstream`: one pooled client that keeps no
   state between requests and sends only declared headers); only the
   declared query parameters and the translated body are sent. The request is
   built before anything is on record as sent: a query the client cannot
   build (too long once percent-encoded again) is a 414, nothing forwarded;
4. the upstream answer: 404 -> 404; any other non-2xx, a connection error, a
   body that is not JSON, too large (before or after gzip/deflate decoding), not
   an object or list of objects, a list of more than ``SHIM_MAX_BATCH`` records
   (``upstream-too-many-records``: a proxy answer carries no more than
   ``POST /v1/outbound`` accepts, whatever paging the caller asked for), not
   valid against the internal schema, about another object than the path names
   (object-level authorization, OWASP API1), or untranslatable -> 502; a
   timeout -> 504. Otherwise each record is translated outbound for the
   caller's group, checked against ``ExternalRecord``, encoded, and returned;
   an answer of more than :data:`INLINE_BYTES` is parsed, checked and
   translated in a worker thread (one of
   :data:`~.upstream.ANSWER_THREADS`, a pool of their own), so it never
   stalls the worker's other requests. No upstream header or body byte ever reaches the caller.

Every proxy request that passed the gate leaves exactly one audit record
(direction ``proxy``), written once its final status is known: the outcome is
the status the caller is sent and ``upstream_status`` what the internal API
answered (null when it was not called). If that record cannot be written the
caller gets 503 and none of the answer. A route whose internal method changes
state (anything but GET and HEAD) also writes a ``proxy-forward`` event before
it calls the internal API, and calls it only once that is stored: a write
whose final record then fails is on record all the same.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Final
from urllib.parse import quote

import anyio.to_thread
import orjson
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response

from ..core.errors import Problem, TranslationError
from ..core.support import ascii_int, put
from .callers import Caller
from .logs import logger
from .problems import HTTPProblem
from .tracking_hooks import PROBE
from .upstream import ANSWER_THREADS, Crossing, Upstream, bad_gateway, log_upstream
from .validate import deep_or_repeated, unfit_problem

if TYPE_CHECKING:
    from .app import RouteSpec, Shim

__all__ = ["ANSWER_THREADS", "INLINE_BYTES", "ProxyRoute", "Upstream"]

_JSON: Final = "application/json"
_READS: Final = frozenset({"GET", "HEAD"})
"""Internal methods that change nothing: no ``proxy-forward`` event before them."""
INLINE_BYTES: Final = 16 * 1024
"""An upstream answer larger than this is parsed and translated in a worker thread.

About 40 records, half a millisecond of work: below it the thread hop costs more
than it saves; above it (up to ``SHIM_MAX_BATCH`` records, 16 x
``SHIM_MAX_BODY_BYTES`` bytes) the event loop would stall every other request.
"""
_PASS_STATUSES: Final = frozenset({200, 201, 202})


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


_MISSING: Final = object()


def _get(document: Any, path: tuple[str, ...]) -> Any:
    """The value at ``path`` in nested objects, or :data:`_MISSING`."""
    for key in path:
        if document.__class__ is not dict or key not in document:
            return _MISSING
        document = document[key]
    return document


def too_many_records(bound: int) -> HTTPProblem:
    """The 502 for an answer of more records than one answer may carry (``SHIM_MAX_BATCH``).

    It says what to do: the caller pages (the route's declared paging query
    parameters, a smaller page), the operator raises the bound; the count the
    upstream sent is not echoed, only the bound.
    """
    return HTTPProblem(
        502,
        f"the internal API answered more than {bound} records, more than one answer may "
        f"carry; ask for at most {bound} per request (page through the rest), or ask the "
        "operator to raise SHIM_MAX_BATCH",
        slug="upstream-too-many-records",
        title="Upstream answer too large",
    )


def _pointer(path: tuple[str, ...]) -> str:
    return "".join("/" + k.replace("~", "~0").replace("/", "~1") for k in path)


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
        # The fields the audit record names: what comes out (the group's outbound view)
        # and what goes in: every inbound field with a body, else the path parameters'.
        self.sends = bool(self.params) or route.has_body
        in_path = {ext for _, ext, _, _ in route.params}
        self.fields_out = {g: shim.fields["outbound"].get(g, ()) for g in shim.groups}
        self.fields_in = {
            g: tuple(f for f in shim.fields["inbound"].get(g, ())
                     if route.has_body or f.rpartition(":")[0] in in_path)
            for g in shim.groups
        }  # fmt: skip

    async def handle(self, request: Request) -> Response:
        shim = self.shim
        scope = request.scope
        scope["shim.route"] = self.label
        caller, group = await shim.gate(scope, self.route.groups, "proxy")
        crossing = Crossing()
        status = 500  # what the audit says if something unexpected breaks
        try:
            response = await self._serve(request, caller, group, crossing)
            status = response.status_code
        except HTTPProblem as problem:
            status = problem.status
            raise
        except ClientDisconnect:
            status = 499  # the caller left while its body was read: nothing was sent
            raise
        finally:
            await shim.audit(
                scope, caller, group, "proxy", crossing.records, status,
                upstream_status=crossing.upstream_status, fields=self.fields_out.get(group, ()),
                records_in=crossing.records_in, fields_in=crossing.fields_in,
            )  # fmt: skip
        if crossing.records_in:
            shim.metrics.records("inbound", group, crossing.records_in)
        if crossing.records:
            shim.metrics.records("outbound", group, crossing.records)
        return response

    async def _serve(
        self, request: Request, caller: Caller, group: str, crossing: Crossing
    ) -> Response:
        """The request after the gate, up to the encoded answer; ``crossing`` is filled in.

        The grant check runs again before the internal API is called and before its
        answer is translated: a slow body or a slow upstream never outlives a revocation.
        """
        shim, route = self.shim, self.route
        scope = request.scope
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
        try:
            path, values = self._internal_path(request.path_params, group, caller.internal)
        except HTTPProblem as refused:
            if refused.status == 404:  # a forged or foreign token, "..": a refusal in disguise,
                scope[PROBE] = True  # which tracking counts as probing (the answer stays 404)
            raise
        payload = None
        if route.has_body:
            internal = shim.translate_in(body, group, internal=caller.internal)
            self._same_object(internal, values)
            payload = orjson.dumps(internal)
        query: list[tuple[str, str | int | float | bool | None]] = [
            (k, v) for k, v in request.query_params.multi_items() if k in self.query
        ]
        limit = shim.settings.max_body_bytes * 16
        # built (or refused, 414) before anything is on record as sent inward
        outgoing = upstream.prepare(
            route.internal_method, path, query, payload, scope["shim.request_id"]
        )
        shim.still_admitted(scope, caller)  # no tracking deny opened meanwhile
        if group in shim.guarded:  # no coroutine for a standing group
            await shim.recheck(scope, caller, group)
        sent_query = tuple(sorted({f"?{name}:pass" for name, _ in query}))
        crossing.fields_in = self.fields_in.get(group, ()) + sent_query
        writes = route.internal_method not in _READS
        if writes:  # the internal API will act: on record first
            await shim.forwarding(scope, caller, group, crossing.fields_in)
        # From here the path value, body or query is on its way in; a write is a crossing
        # inward even with none of them (DELETE /things): never recorded as "nothing went in".
        if self.sends or query or writes:
            crossing.records_in = 1
        code, media, raw = await upstream.call(outgoing, limit, crossing)
        if code == 404:
            raise HTTPProblem(404, "the internal API has no such resource")
        if not 200 <= code < 300:
            log_upstream("upstream-status", code)
            raise bad_gateway()
        if code == 204 or not raw:
            return Response(status_code=204)
        shim.still_admitted(scope, caller)
        if group in shim.guarded:  # no coroutine for a standing group
            await shim.recheck(scope, caller, group)
        if len(raw) > INLINE_BYTES:  # CPU work in proportion to the answer: off the loop
            return await anyio.to_thread.run_sync(
                self._outbound, group, code, media, raw, values, crossing,
                limiter=upstream.answers,  # not the threads grant checks need
            )  # fmt: skip
        return self._outbound(group, code, media, raw, values, crossing)

    def _internal_path(
        self, values: Mapping[str, Any], group: str, internal: bool
    ) -> tuple[str, list[Any]]:
        """The internal path and each parameter's internal value; a 404 for one that does not
        reverse, a 422 for one the internal schema refuses (its rule named to ``internal``
        callers only)."""
        path = self.route.internal_path
        if not self.params:
            return path, []
        not_found = HTTPProblem(404, "the path does not name a resource this caller can reach")
        payload: dict[str, Any] = {}
        for name, ext, _, _, wants_int in self.params:
            value: Any = values.get(name)
            if wants_int:  # ASCII decimal only: "²" is no number, "٣" no second spelling of 3
                value = ascii_int(value)
                if value is None:
                    raise not_found
            put(payload, ext, value)
        try:
            translated = self.shim.spec.to_internal(payload, group)
        except TranslationError:
            raise not_found from None
        problems = self.shim.internal_fit.problems(translated)  # detokenized values must fit
        if problems:
            raise unfit_problem(problems, internal=internal)
        found_values: list[Any] = []
        for _, _, path_in, internal_name, _ in self.params:
            found = _get(translated, path_in)
            if isinstance(found, bool) or not isinstance(found, (str, int)):
                raise not_found
            text = str(found)
            if text in ("", ".", ".."):
                raise not_found  # would change the internal path's meaning
            path = path.replace("{" + internal_name + "}", quote(text, safe=""))
            found_values.append(found)
        return path, found_values

    def _same_object(self, internal: Mapping[str, Any], values: list[Any]) -> None:
        """422 when a body field names another object than the path parameter on its internal field."""
        for (_, ext, path_in, _, _), value in zip(self.params, values, strict=True):
            found = _get(internal, path_in)
            if found is not _MISSING and found != value:
                raise HTTPProblem(
                    422,
                    "a body field names another object than the path does; see errors",
                    slug="path-body-mismatch",
                    title="Path and body disagree",
                    errors=[Problem(_pointer(ext), "must name the same object as the path")],
                )

    def _outbound(
        self,
        group: str,
        code: int,
        media: str,
        raw: bytes,
        values: list[Any],
        crossing: Crossing,
    ) -> Response:
        shim = self.shim
        if media != _JSON and not media.endswith("+json"):
            log_upstream("upstream-not-json", code)
            raise bad_gateway()
        try:
            doc = orjson.loads(raw)
        except orjson.JSONDecodeError:
            log_upstream("upstream-not-json", code)
            raise bad_gateway() from None
        many = doc.__class__ is list
        records: list[Any] = doc if many else [doc]
        if len(records) > shim.settings.max_batch:  # counted before any is checked
            log_upstream("upstream-too-many-records", code)
            raise too_many_records(shim.settings.max_batch)
        if (
            deep_or_repeated(raw, doc, shim.settings.max_depth)
            or not all(r.__class__ is dict for r in records)
            or shim.v_internal.problems_each(records)
        ):
            log_upstream("upstream-invalid", code)
            raise bad_gateway()
        for record in records:  # OWASP API1: the answer must be about the object asked for
            for (_, _, path_in, _, _), value in zip(self.params, values, strict=True):
                found = _get(record, path_in)
                if found is not _MISSING and found != value:
                    logger.error(
                        "upstream answered about another object than the path names",
                        extra={"event": "upstream-object-mismatch", "upstream_status": code},
                    )
                    raise bad_gateway()
        try:
            out = shim.translate_out(records, group)
            if shim.v_external.problems_each(out):
                raise HTTPProblem(422, "untranslatable")
            encoded = orjson.dumps(out if many else out[0])
        except (HTTPProblem, TypeError):  # TypeError: orjson cannot encode a value
            log_upstream("upstream-untranslatable", code)
            raise bad_gateway() from None
        crossing.records = len(records)
        return Response(encoded, code if code in _PASS_STATUSES else 200, media_type=_JSON)
