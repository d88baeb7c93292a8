"""The steps every protected request goes through, in the contract's order.

:class:`Shim` holds what one app needs at run time (spec, settings, compiled
validators, authenticator, rate limiter, metrics, audit sink, upstream client)
and offers the steps as methods, so the two translation endpoints and every
proxy route run the very same code:

1. ``gate``: authenticate (401, or 429 once the client address has failed too
   often), rate limit (429 + ``Retry-After``), size limit (``Content-Length``,
   413), select the group (403), the route's groups (403); a refusal after
   authentication is audited with no records (a 429 once per throttling episode);
2. ``json_body``: content type (415), bounded read (413), JSON (400), depth (400);
3. ``check_schema`` (422), ``translate_out`` / ``to_internal`` (422);
4. ``encode``: the answer's bytes, before the audit record is written, so a
   value the JSON encoder cannot write is a 422 with a pointer (and the record
   says 422), never a 500 after a record that says 200;
5. ``audit``: one event per authenticated request, success or failure, with
   the status the caller is sent and the number of records that crossed (0,
   and no fields, for a refusal; a proxy request's also says what it forwarded
   inward); if it cannot be written the request fails
   with 503 and nothing translated leaves the shim. The same request is then
   one observation for heuristic tracking (:mod:`.tracking`), whose incidents
   go into the same hash chain; an open ``deny`` or ``throttle`` incident is
   enforced in ``gate`` (403 or a tenth of the caller's rate), right after
   authentication.
"""

from __future__ import annotations

import math
import time
from typing import TYPE_CHECKING, Any, Final

from starlette.types import Receive, Scope

from ..audit.recorder import Recorder
from ..core.errors import Problem, TranslationError
from . import auth
from .access import Access
from .audit_events import crossing_event, forward_event
from .audit_facts import connection
from .elevation import beyond_groups
from .encoding import encode
from .incidents import TrackingConfig
from .logs import exception_fields, logger
from .metrics import Metrics
from .problems import HTTPProblem
from .tracking import Tracker
from .tracking_hooks import PROBE, enforce, observe, refuse_denied, write_incidents
from .validate import (
    MAX_ERRORS,
    InternalFit,
    SchemaValidator,
    parse_json,
    read_body,
    unfit_problem,
)

if TYPE_CHECKING:
    from .app import ShimSpec
    from .proxy import Upstream
    from .settings import Settings
    from .shared import SharedLimiter
    from .shared_tracking import SharedTracking

__all__ = ["Shim"]

_JSON: Final = "application/json"
_MAX_THROTTLED: Final = 10_000


class Shim:
    """Run-time state of one app plus the request steps that use it.

    Everything that can be prepared is prepared here, once: validators are
    compiled, the callers file is loaded and checked, per-group field lists
    are frozen. ``sink`` and ``upstream`` are opened by the app's lifespan.
    """

    def __init__(self, spec: ShimSpec, settings: Settings) -> None:
        self.spec = spec
        self.settings = settings
        self.groups = frozenset(spec.groups)
        self.metrics = Metrics()
        callers = auth.Callers.load(
            settings.callers_file, spec.groups, beyond=beyond_groups(spec.elevated)
        )
        self.authenticator = auth.Authenticator(callers, realm=spec.name)
        self.failed_auth = auth.FailedAuthLimiter(callers.failed_auth)
        self.limiter = auth.RateLimiter(settings.rate_limit, settings.rate_burst)
        self.v_internal = SchemaValidator(spec.openapi, "InternalRecord")
        self.v_external = SchemaValidator(spec.openapi, "ExternalRecord")
        self.v_inbound = SchemaValidator(spec.openapi, "InboundPayload")
        self.internal_fit = InternalFit(spec.openapi, spec.inbound_paths)
        self.fields = {
            "outbound": {g: tuple(f) for g, f in spec.fields_out.items()},
            "inbound": {g: tuple(f) for g, f in spec.fields_in.items()},
        }
        self.sink: Any = None
        self.recorder: Recorder | None = None
        self.upstream: Upstream | None = None
        # SHIM_SHARED_STORE_URL: opened by the lifespan; None keeps the limits per process
        self.shared: SharedLimiter | None = None
        self.tracking_sync: SharedTracking | None = None  # with a store: global tracking counts
        # callers refused by the rate limit since their last admitted request (this worker)
        self.throttled: set[str] = set()
        self.keys_loaded = False
        # elevated groups (rotational access): None and an empty set when the mapping has none
        self.access: Access | None = Access(self) if spec.elevated else None
        self.guarded = self.access.guarded if self.access is not None else frozenset()
        self.tracker: Tracker | None = None  # SHIM_TRACKING=off: None, nothing observed
        if settings.tracking:
            config = TrackingConfig(
                window=settings.tracking_window,
                warmup_seconds=settings.tracking_warmup_hours * 3600,
                warmup_requests=settings.tracking_warmup_requests,
            )
            self.tracker = Tracker(config, spec.tracking, spec.classes_out)

    # -- 1. the gate ------------------------------------------------------------

    async def gate(
        self, scope: Scope, route_groups: frozenset[str], direction: str
    ) -> tuple[auth.Caller, str]:
        """Authentication, rate limit, size, group and route groups; returns caller and group.

        Reads the headers the envelope collected in ``scope["shim.headers"]``
        (lower-case names, first occurrence wins, like Starlette's ``Headers``).
        The rate limit is charged first, for every authenticated request, so
        refused ones (a bad size, a group probe) spend the caller's budget too.
        Every refusal after authentication is audited with no records, except
        429s: only the first of a throttling episode is, so a caller over its
        limit cannot make the audit store write faster than its limit allows.
        """
        headers: dict[str, str] = scope["shim.headers"]
        caller = self.authenticate(scope, headers)
        named = headers.get("shim-group")
        # Fast path for a member's group, as select_group would accept it: group names
        # are ^[a-z][a-z0-9-]*$ (mapping model), so no member name needs stripping.
        group = named if named in caller.groups and named in self.groups else None
        await self.spend(scope, caller, named, group, direction)
        try:
            length = headers.get("content-length")
            if length is not None:
                if not (length.isascii() and length.isdigit()):  # "²".isdigit() is True
                    raise HTTPProblem(400, "the Content-Length header is not a number")
                if int(length) > self.settings.max_body_bytes:
                    raise HTTPProblem(
                        413,
                        f"the request body is larger than {self.settings.max_body_bytes} bytes",
                    )
            if group is None:  # anything else gets select_group's stripping and refusals
                try:
                    group = auth.select_group(caller, named, self.groups)
                except auth.AuthError as exc:
                    raise HTTPProblem(exc.status, exc.detail, title=exc.title) from None
            scope["shim.group"] = group
            if group in self.guarded:  # elevated, or excluded by one: the grant store decides
                grant = await self.access.check(caller, group)  # type: ignore[union-attr]
                if grant is not None:
                    scope["shim.grant"] = grant
            if group not in route_groups:
                raise HTTPProblem(
                    403, "the group named in Shim-Group may not call this route", title="Forbidden"
                )
        except HTTPProblem as problem:
            await self.audit(scope, caller, group, direction, 0, problem.status)
            raise
        return caller, group

    async def recheck(self, scope: Scope, caller: auth.Caller, group: str) -> None:
        """The gate's grant check again, just before anything crosses (guarded groups only).

        A request passes the gate before its body is read and before the internal API
        answers; a revocation or an expiry in between must still stop it (no tail), and
        an exclusion must hold for the request that is slow, not only the next one.
        """
        if group in self.guarded:  # callers test this first too: no coroutine on the hot path
            scope["shim.grant"] = await self.access.check(caller, group)  # type: ignore[union-attr]

    def still_admitted(self, scope: Scope, caller: auth.Caller) -> None:
        """Tracking's deny again, just before anything crosses (403 ``tracking-denied``).

        Like :meth:`recheck` for grants: a request that passed the gate and then waited
        (a slow body, a slow upstream) while a deny incident opened crosses nothing.
        Two dict lookups for a caller with no throttle or deny.
        """
        tracker = self.tracker
        if tracker is not None and (
            caller.subject in tracker.enforced or caller.subject in tracker.remote
        ):
            refuse_denied(tracker, scope, caller, time.time())

    async def unrouted(self, scope: Scope, status: int) -> None:
        """A request no route serves (Starlette's 404 or 405) from a caller with valid credentials.

        Routing answers before anything authenticates, so a partner walking the surface
        with its key (internal paths, sub-resources, every method on a real route) had no
        caller: no audit record, no tracking, no rate limit (red-team, ninth pass). Now
        such a request is charged (429, or a tracking deny, may answer instead), audited
        with route ``unmatched`` (:data:`.access_log.UNMATCHED`) and nothing crossed, and
        counted as probing. Without credentials nothing changes; bad ones count toward the
        address's failed authentications as everywhere else (429 once it guesses too
        often), so a path no route serves is no place to try keys unthrottled. Neither
        has a caller, so neither has a record.
        """
        headers: dict[str, str] = scope.get("shim.headers", {})
        if "x-api-key" not in headers and "authorization" not in headers:
            return
        try:
            caller = self.authenticate(scope, headers)
        except HTTPProblem as refused:
            if refused.status == 401:  # counted toward the address's failures; the 404/405
                return
            raise  # 429: the address has failed authentication too often
        await self.spend(scope, caller, None, None, "unrouted")
        scope[PROBE] = True  # nothing is served there: only a probe earns the answer
        await self.audit(scope, caller, None, "unrouted", 0, status)

    def authenticate(self, scope: Scope, headers: dict[str, str]) -> auth.Caller:
        """The caller of the request's credentials; 401 (or 429 for a guessing address)."""
        try:
            # The names are lower case already: plain lookups, no case-insensitive scan.
            caller = self.authenticator.credentials(
                headers.get("x-api-key"), headers.get("authorization")
            )
        except auth.AuthError as exc:
            self.refuse_failed_auth(scope)
            raise HTTPProblem(
                exc.status, exc.detail, title=exc.title, headers=exc.headers
            ) from None
        scope["shim.caller"] = caller.identity
        scope["shim.side"] = caller.side
        return caller

    async def rate_refused(
        self, scope: Scope, caller: auth.Caller, named: str | None, group: str | None,
        direction: str, wait: float,
    ) -> None:  # fmt: skip
        """The 429 for a caller over its rate limit; only an episode's first is audited."""
        # labelled by the group named if the service has it, member or not: the
        # metric must not tell a reader of /metrics which groups a caller is in
        self.metrics.rate_limited(named if named in self.groups else None)
        throttled = self.throttled
        if caller.identity not in throttled:  # the first 429 of an episode is recorded
            if len(throttled) >= _MAX_THROTTLED:
                throttled.clear()  # bounded memory; costs at most a record per caller
            throttled.add(caller.identity)
            await self.audit(scope, caller, group, direction, 0, 429)
        raise HTTPProblem(
            429,
            "the caller's request rate is over its limit; retry later",
            headers={"Retry-After": str(max(1, math.ceil(wait)))},
        )

    async def admit(self, scope: Scope, direction: str) -> auth.Caller:
        """Authentication, rate limit and tracking's deny or throttle, for requests that act in
        no group (grants): a caller tracking has shut out does not approve or request either."""
        caller = self.authenticate(scope, scope["shim.headers"])
        await self.spend(scope, caller, None, None, direction)
        return caller

    async def spend(
        self,
        scope: Scope,
        caller: auth.Caller,
        named: str | None,
        group: str | None,
        direction: str,
    ) -> None:
        """Charge the caller's rate limit (429), then tracking's open deny or throttle (403, 429).

        One place for every authenticated request, grant endpoints included: refused
        requests spend the caller's budget too, and no route escapes an enforcement.
        """
        shared = self.shared  # without a store: a plain call, no await
        wait = (
            self.limiter.for_caller(caller) if shared is None else await shared.for_caller(caller)
        )
        if wait is None:
            if self.throttled:
                self.throttled.discard(caller.identity)
        else:
            await self.rate_refused(scope, caller, named, group, direction, wait)
        tracker = self.tracker  # after the rate limit, so refusals spend the caller's budget
        if tracker is not None and (
            caller.subject in tracker.enforced or caller.subject in tracker.remote
        ):
            await enforce(self, scope, tracker, caller, group, direction)

    def refuse_failed_auth(self, scope: Scope) -> None:
        """429 instead of 401 once the client address has failed authentication too often."""
        client = scope.get("client")
        wait = self.failed_auth.failed(client[0] if client else "")
        if wait is not None:
            self.metrics.rate_limited(None)
            raise HTTPProblem(
                429,
                "too many requests from this address failed authentication; retry later",
                headers={"Retry-After": str(max(1, math.ceil(wait)))},
            )

    # -- 2. the body --------------------------------------------------------------

    async def json_body(self, scope: Scope, receive: Receive) -> Any:
        """The parsed JSON body: 415 if not JSON, 413 if too large, 400 if malformed or too deep."""
        ctype = scope["shim.headers"].get("content-type", "")
        if ctype != _JSON and ctype.partition(";")[0].strip().lower() != _JSON:
            raise HTTPProblem(415, "send the body as application/json")
        body = await read_body(receive, self.settings.max_body_bytes)
        # malformed, too deep or naming a member twice (I-JSON): 400
        try:
            return parse_json(body, self.settings.max_depth)
        except HTTPProblem as refused:
            if refused.slug == "duplicate-key":  # no serializer writes one: a parser-
                scope[PROBE] = True  # differential attempt, which tracking counts as probing
            raise

    # -- 3. schema and translation ---------------------------------------------------

    @staticmethod
    def check_schema(validator: SchemaValidator, document: Any, what: str) -> None:
        """422 listing every schema problem of ``document`` (one record)."""
        problems = validator.problems(document)
        if problems:
            raise HTTPProblem(422, f"{what} does not match its schema; see errors", errors=problems)

    @staticmethod
    def translation_problem(problems: list[Problem]) -> HTTPProblem:
        """The 422 for records the translator refused, in either direction."""
        return HTTPProblem(
            422,
            "the record cannot be translated; see errors",
            slug="translation-failed",
            title="Translation failed",
            errors=problems,
        )

    def translate_in(self, document: Any, group: str, *, internal: bool) -> dict[str, Any]:
        """``to_internal`` for one payload; the translator's problems, or internal values
        the internal schema refuses, as one 422 (naming the rule to ``internal`` callers)."""
        try:
            translated = self.spec.to_internal(document, group)
        except TranslationError as exc:
            raise self.translation_problem(exc.problems) from None
        problems = self.internal_fit.problems(translated)  # e.g. a token minted for "../admin"
        if problems:
            raise unfit_problem(problems, internal=internal)
        return translated

    def translate_out(
        self, records: list[Any], group: str, indexed: bool = True
    ) -> list[dict[str, Any]]:
        """``to_external`` for each record; every failing record's problems in one 422.

        With ``indexed`` the pointers start with the record's index in the batch.
        """
        to_external = self.spec.to_external
        out: list[dict[str, Any]] = []
        problems: list[Problem] = []
        for i, record in enumerate(records):
            try:
                out.append(to_external(record, group))
            except TranslationError as exc:
                prefix = f"/{i}" if indexed else ""
                for p in exc.problems:
                    pointer = prefix + p.pointer if p.pointer != "/" else prefix or "/"
                    problems.append(Problem(pointer, p.message))
                if len(problems) >= MAX_ERRORS:
                    break
        if problems:
            raise self.translation_problem(problems[:MAX_ERRORS])
        return out

    # -- 4. encoding ----------------------------------------------------------------------

    encode = staticmethod(encode)  # the answer's bytes, or a 422 (see .encoding)

    # -- 5. audit -------------------------------------------------------------------------

    async def audit(
        self,
        scope: Scope,
        caller: auth.Caller | None,
        group: str | None,
        direction: str,
        records: int,
        outcome: int,
        *,
        upstream_status: int | None = None,
        fields: tuple[str, ...] | None = None,
        records_in: int = 0,
        fields_in: tuple[str, ...] = (),
    ) -> None:
        """Write one audit event; 503 (and a metric, and an error log) if it cannot be written.

        ``outcome`` is the status the caller is sent; ``upstream_status`` what the
        internal API answered (proxy routes; None when it was not called).
        ``fields`` defaults to the direction's fields for the group
        (:func:`.audit_events.crossing_event` says what the record holds).
        """
        if fields is None:  # only outbound and inbound have views' fields (and only if any crossed)
            fields = self.fields[direction].get(group or "", ()) if records else ()
        event = crossing_event(
            self.spec, scope, caller, group, direction, records, outcome, fields,
            upstream_status=upstream_status, records_in=records_in, fields_in=fields_in,
        )  # fmt: skip
        await self._record(scope, event)
        tracker = self.tracker
        if tracker is not None and caller is not None and "shim.untracked" not in scope:
            changes = observe(tracker, scope, caller, group, direction, records, outcome)
            if changes:  # rare: an incident opened or closed
                await write_incidents(self, changes)

    async def forwarding(
        self, scope: Scope, caller: auth.Caller, group: str, fields_in: tuple[str, ...]
    ) -> None:
        """Record that a write is about to be sent inward; 503 (nothing sent) if it cannot be.

        A proxy request's crossing record is written once its outcome is known, after
        the internal API answered. For a write that is too late: if that record then
        fails, the caller gets 503 but the internal API has acted on what crossed, and
        nothing says so. So a route whose internal method changes state (anything but
        GET and HEAD) first writes this ``proxy-forward`` event, and forwards only once
        it is stored: the write-ahead half of the contract "no unrecorded crossing".
        """
        event = forward_event(self.spec, scope, caller, group, fields_in)
        await self._record(scope, event)

    async def _record(self, scope: Scope, event: dict[str, Any]) -> None:
        """Store ``event`` in the hash chain, or fail the request with 503 (and say why in the log)."""
        try:
            if self.recorder is None:
                raise RuntimeError("audit sink not open")
            await self.recorder.append(event, connection(scope))
        except Exception as exc:
            self.metrics.audit_failure()
            logger.error(
                "audit record could not be written",
                extra={"event": "audit-failure", "request_id": event["request_id"],
                       **exception_fields(exc)},
            )  # fmt: skip
            raise HTTPProblem(
                503,
                "the audit record could not be written, so nothing was translated; retry later",
                slug="audit-unavailable",
                title="Audit trail unavailable",
            ) from None
