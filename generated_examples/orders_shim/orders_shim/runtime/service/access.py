"""Elevated groups at run time: the per-request check and the grant endpoints.

Only groups the mapping marks elevated (``ShimSpec.elevated``) and the groups
they exclude are *guarded*; a request in any other group pays one set lookup.
A guarded request reads the caller's active grant from the shared store
(:mod:`.grants`), in a worker thread, on every request:

* in an elevated group: allowed only under an active grant for that group
  (membership makes a caller eligible, the grant makes it act); else 403;
* in a group excluded by the elevated group the caller holds a grant for: 403
  (dynamic separation of duty: the two are never active together).

The endpoints (``/v1/access/grants...``, see :mod:`.access_openapi`) are
authenticated and rate limited like every request, but act in no group:
``Shim-Group`` is not needed and is ignored. What a caller may do follows from
its memberships: request a group it is a member of (eligible for), approve,
deny or revoke grants of the groups whose ``approvers`` it is a member of,
revoke its own. Refusals are audited as crossings with no records (direction
``access``); the changes themselves are ``grant-*`` events in the hash chain.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Final

import anyio.to_thread
import orjson
from starlette.requests import Request
from starlette.responses import Response

from ..core.errors import Problem
from .grant_store import GrantStoreError, open_grant_db
from .grants import MAX_TEXT, Grant, GrantError, Grants
from .logs import exception_fields, logger
from .problems import HTTPProblem

if TYPE_CHECKING:
    from .auth import Caller
    from .pipeline import Shim

__all__ = ["SWEEP_INTERVAL", "Access", "excluded_by"]

SWEEP_INTERVAL: Final = 5.0  # seconds between sweeps (expiry events, queued grants) per worker
GRANTS: Final = "/v1/access/grants"
_REQUEST_KEYS: Final = frozenset({"group", "seconds", "reason", "ticket", "break_glass"})
_ACTIONS: Final = ("approve", "deny", "revoke")


def excluded_by(elevated: Any) -> dict[str, frozenset[str]]:
    """group -> the elevated groups whose grant keeps a caller out of it."""
    out: dict[str, set[str]] = {}
    for name, rule in elevated.items():
        for other in rule.excludes:
            out.setdefault(other, set()).add(name)
    return {group: frozenset(names) for group, names in out.items()}


def _text(value: Any) -> bool:
    """A reason or ticket: 1..1024 printable characters (no control characters, no newlines)."""
    return isinstance(value, str) and 0 < len(value) <= MAX_TEXT and value.isprintable()


class Access:
    """The elevated groups of one app: guard, grant endpoints and the periodic sweep."""

    def __init__(self, shim: Shim, clock: Callable[[], float] | None = None) -> None:
        self.shim = shim
        self.elevated = shim.spec.elevated
        self.excluded_by = excluded_by(self.elevated)
        self.guarded = frozenset(self.elevated) | frozenset(self.excluded_by)
        shim.metrics.break_glass_groups(
            sorted(g for g, rule in self.elevated.items() if rule.break_glass_seconds is not None)
        )
        self.clock = clock
        self.grants: Grants | None = None
        self._sweeper: asyncio.Task[None] | None = None

    # -- lifecycle (the app's lifespan) ---------------------------------------------------

    async def open(self) -> None:
        """Open the grant store beside the audit store and start the periodic sweep."""
        spec = self.shim.spec
        db = await anyio.to_thread.run_sync(open_grant_db, self.shim.settings.audit_url)
        mapping = {
            "mapping": spec.name,
            "mapping_version": spec.version,
            "mapping_sha256": spec.sha256,
        }
        self.grants = Grants(db, self.elevated, mapping, self._write_events)
        if self.clock is not None:
            self.grants.clock = self.clock
        self._sweeper = asyncio.get_running_loop().create_task(self._sweep_forever())

    async def close(self) -> None:
        if self._sweeper is not None:
            self._sweeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._sweeper
        if self.grants is not None:
            self.grants.db.close()

    async def _sweep_forever(self) -> None:
        """Expiry events and freed slots without waiting for the next request (each worker)."""
        while True:
            await asyncio.sleep(SWEEP_INTERVAL)
            with contextlib.suppress(HTTPProblem):  # logged by _call; the next sweep retries
                await self._call(lambda g: g.sweep())

    def _write_events(self, events: list[dict[str, Any]]) -> None:
        """Store grant events in the audit chain (from the grant transaction's thread)."""
        sink = self.shim.sink
        if sink is None:
            raise GrantStoreError("the audit sink is not open")
        if not events:
            return
        many = getattr(sink, "append_many", None)
        if many is not None:  # one transaction: a change's events are stored all, or none
            many(events)
            return
        for event in events:
            sink.append(event)

    async def _call(self, work: Callable[[Grants], Any]) -> Any:
        """Run ``work`` on the grants in a worker thread; store or audit failure is a 503."""
        grants = self.grants
        if grants is None:
            raise HTTPProblem(503, "the grant store is not open", slug="grants-unavailable")
        try:
            return await anyio.to_thread.run_sync(work, grants)
        except GrantError:
            raise
        except Exception as exc:
            if not isinstance(exc, GrantStoreError):  # the audit sink refused the events
                self.shim.metrics.audit_failure()
            logger.error(
                "grant store or audit trail unavailable",
                extra={"event": "grant-store-failure", **exception_fields(exc)},
            )
            raise HTTPProblem(
                503,
                "the grant store or the audit trail is unavailable, so nothing changed; retry later",
                slug="grants-unavailable",
                title="Grant store unavailable",
            ) from None

    # -- the per-request guard (from Shim.gate) ----------------------------------------

    async def check(self, caller: Caller, group: str) -> str | None:
        """The grant id the request acts under (elevated group), None (excluded group, allowed),
        or a 403 saying what is missing, never who else holds what."""
        if group in self.elevated:
            self._beyond(caller, group)
        held = await self._call(lambda g: g.active(caller.identity))
        if group in self.elevated:
            if held is None or held[1] != group:
                raise HTTPProblem(
                    403,
                    f"no active grant for {group!r}; request one with "
                    f"`{self.shim.spec.name}-shim access request {group} --reason ...` "
                    f"(POST {GRANTS}) and have it approved",
                    slug="no-active-grant",
                    title="Elevation required",
                )
            if held[2] != caller.identity:
                raise HTTPProblem(
                    403,
                    f"your grant for {group!r} is held by the credential that requested it; "
                    "act with that one",
                    slug="no-active-grant",
                    title="Elevation required",
                )
            return str(held[0])
        if held is not None and held[1] in self.excluded_by.get(group, ()):
            raise HTTPProblem(
                403,
                f"your active grant for {held[1]!r} excludes acting in {group!r}; "
                "revoke the grant first",
                slug="excluded-group",
                title="Excluded group",
            )
        return None

    def _beyond(self, caller: Caller, group: str) -> None:
        """403 ``not-eligible`` for a caller of elevated ``group`` without its ``beyond`` group.

        The review showed approvers what a grant reveals beyond that standing group, so a
        grant may only be asked for and used by a caller that holds it too. The callers
        file is checked for this at start-up; a JWT's groups come with each token, so
        they are checked here, on every request for and under a grant.
        """
        standing = self.elevated[group].beyond
        if standing is not None and standing not in caller.groups:
            raise HTTPProblem(
                403,
                f"{group!r} is for callers who also act in {standing!r} (what its review "
                f"approved is what a grant reveals beyond {standing!r}); your credentials "
                f"do not carry {standing!r}",
                slug="not-eligible",
                title="Not eligible",
            )

    # -- endpoints ---------------------------------------------------------------------------

    def routes(self) -> list[tuple[str, Any, str]]:
        """``(path, endpoint, method)`` of every grant endpoint."""
        out: list[tuple[str, Any, str]] = [
            (GRANTS, self.request_grant, "POST"),
            (GRANTS, self.list_grants, "GET"),
        ]
        out += [(f"{GRANTS}/{{grant}}/{a}", self.action(a), "POST") for a in _ACTIONS]
        return out

    async def request_grant(self, request: Request) -> Response:
        """``POST /v1/access/grants``: ask for an elevated group (or take it, break-glass)."""
        scope = request.scope
        scope["shim.route"] = f"POST {GRANTS}"
        caller = await self.shim.admit(scope, "access")
        group: str | None = None
        try:
            body = await self.shim.json_body(scope, request.receive)
            group, seconds, reason, ticket, glass = self._request_body(body, caller)
            grant, note = await self._call(
                lambda g: g.request(
                    caller.identity, group, seconds, reason, ticket, glass, scope["shim.request_id"]
                )
            )
        except (HTTPProblem, GrantError) as exc:
            raise await self._refused(scope, caller, group, exc) from None
        if grant.break_glass:
            self._alert(scope, caller, grant)
        return self._answer(grant, note, 201)

    def _request_body(self, body: Any, caller: Caller) -> tuple[str, int, str, str | None, bool]:
        if not isinstance(body, dict):
            raise HTTPProblem(
                422, "send a JSON object: group, reason, seconds, ticket, break_glass"
            )
        unknown = sorted(k for k in body if k not in _REQUEST_KEYS)
        if unknown:
            raise HTTPProblem(
                422,
                "the request has unknown members; see errors",
                errors=[
                    Problem(f"/{k}"[:80], "not a member of a grant request") for k in unknown[:10]
                ],
            )
        group = body.get("group")
        if not isinstance(group, str) or group not in self.shim.groups:
            raise HTTPProblem(
                422,
                "'group' must name a group of this service",
                errors=[Problem("/group", "no such group")],
            )
        rule = self.elevated.get(group)
        if rule is None:
            raise HTTPProblem(
                422,
                f"{group!r} is not an elevated group: its members act in it without a grant",
                slug="not-elevated",
                errors=[Problem("/group", "not an elevated group")],
            )
        if group not in caller.groups:
            raise HTTPProblem(
                403,
                f"you are not eligible for {group!r}: the callers file does not list it for "
                "you (an operator adds it there and restarts the shim)",
                slug="not-eligible",
                title="Not eligible",
            )
        self._beyond(caller, group)
        glass = body.get("break_glass", False)
        if not isinstance(glass, bool):
            raise HTTPProblem(
                422,
                "'break_glass' must be true or false",
                errors=[Problem("/break_glass", "not a boolean")],
            )
        most = rule.max_seconds
        if glass:
            if rule.break_glass_seconds is None:
                raise HTTPProblem(
                    403,
                    f"{group!r} has no break-glass access",
                    slug="no-break-glass",
                    title="No break-glass",
                )
            most = rule.break_glass_seconds
        seconds = body.get("seconds", most)
        if isinstance(seconds, bool) or not isinstance(seconds, int) or not 1 <= seconds <= most:
            raise HTTPProblem(
                422,
                f"'seconds' must be a whole number from 1 to {most}",
                errors=[Problem("/seconds", f"1 to {most}")],
            )
        reason = body.get("reason")
        ticket: str | None = body.get("ticket")
        errors = []
        if not _text(reason):
            errors.append(Problem("/reason", f"1 to {MAX_TEXT} printable characters"))
        if ticket is not None and not _text(ticket):
            errors.append(Problem("/ticket", f"1 to {MAX_TEXT} printable characters, or absent"))
        if errors:
            raise HTTPProblem(
                422,
                "a reason is required (and a ticket, if given, must be printable text); see errors",
                errors=errors,
            )
        return group, seconds, str(reason), ticket, glass

    def action(self, action: str) -> Callable[[Request], Any]:
        """The endpoint ``POST /v1/access/grants/{grant}/<action>`` (approve, deny, revoke)."""

        async def endpoint(request: Request) -> Response:
            return await self.act(request, action)

        return endpoint

    async def act(self, request: Request, action: str) -> Response:
        """Approve, deny or revoke the grant named in the path."""
        scope = request.scope
        scope["shim.route"] = f"POST {GRANTS}/{{grant}}/{action}"
        caller = await self.shim.admit(scope, "access")
        gid = request.path_params["grant"]
        try:
            comment = await self._comment(request)
            rid = scope["shim.request_id"]
            groups = self.approving(caller)
            if action == "approve":
                grant, note = await self._call(
                    lambda g: g.approve(gid, caller.identity, groups, rid, comment)
                )
            elif action == "deny":
                grant = await self._call(
                    lambda g: g.deny(gid, caller.identity, groups, rid, comment)
                )
                note = "denied"
            else:
                grant = await self._call(
                    lambda g: g.revoke(gid, caller.identity, groups, rid, comment)
                )
                note = "revoked: the next request in the group is refused, on every worker"
        except (HTTPProblem, GrantError) as exc:
            raise await self._refused(scope, caller, None, exc) from None
        return self._answer(grant, note, 200)

    async def _comment(self, request: Request) -> str | None:
        """The optional ``{"reason": ...}`` body of approve, deny and revoke."""
        if request.scope["shim.headers"].get("content-length") in (None, "0"):
            return None
        body = await self.shim.json_body(request.scope, request.receive)
        if not isinstance(body, dict) or not set(body) <= {"reason"}:
            raise HTTPProblem(422, 'the body, if any, is {"reason": "..."}')
        reason = body.get("reason")
        if reason is not None and not _text(reason):
            raise HTTPProblem(
                422,
                "'reason' must be 1 to 1024 printable characters",
                errors=[Problem("/reason", "not printable text")],
            )
        return reason

    async def list_grants(self, request: Request) -> Response:
        """``GET /v1/access/grants``: own grants, and those of the groups the caller approves
        (pending ones to decide on, break-glass ones to review)."""
        scope = request.scope
        scope["shim.route"] = f"GET {GRANTS}"
        caller = await self.shim.admit(scope, "access")
        approving = self.approving(caller)
        try:
            grants = await self._call(lambda g: g.listing(caller.identity, approving))
        except HTTPProblem as exc:
            raise await self._refused(scope, caller, None, exc) from None
        await self.shim.audit(scope, caller, None, "access", 0, 200, fields=())
        items = [grant.public(self.elevated.get(grant.group)) for grant in grants]
        body = {"grants": items, "review": [i["id"] for i in items if i["break_glass"]]}
        return Response(orjson.dumps(body), 200, media_type="application/json")

    # -- helpers -------------------------------------------------------------------------------

    @staticmethod
    def approving(caller: Caller) -> frozenset[str]:
        """The groups ``caller`` approves in: its groups if internal, none if external.

        A partner listed in an approver group by mistake must neither vouch for access to
        internal data nor read the reasons and tickets of other people's grants.
        """
        return caller.groups if caller.internal else frozenset()

    async def _refused(
        self, scope: Any, caller: Caller, group: str | None, exc: HTTPProblem | GrantError
    ) -> HTTPProblem:
        """Audit a refused access request (no records) and return the problem to raise."""
        problem = (
            exc
            if isinstance(exc, HTTPProblem)
            else HTTPProblem(exc.status, exc.detail, slug=exc.slug)
        )
        named = group if group in self.elevated else None
        await self.shim.audit(scope, caller, named, "access", 0, problem.status, fields=())
        return problem

    def _alert(self, scope: Any, caller: Caller, grant: Grant) -> None:
        """Break-glass always alerts: a metric and a WARNING line (the audit event is written)."""
        self.shim.metrics.break_glass(grant.group)
        logger.warning(
            "break-glass grant taken: active without approval, review it",
            extra={
                "event": "grant-break-glass",
                "request_id": scope["shim.request_id"],
                "grant": grant.id,
                "group": grant.group,
                "caller": caller.identity,
            },
        )

    def _answer(self, grant: Grant, note: str, status: int) -> Response:
        body = {"grant": grant.public(self.elevated.get(grant.group)), "note": note}
        return Response(orjson.dumps(body), status, media_type="application/json")
