"""Heuristic tracking's effects in the request path: enforcement, and incident events written.

:mod:`.tracking` decides; these two functions act for ``Shim`` (kept out of
:mod:`.pipeline` so the request steps stay readable): ``enforce`` runs in the
gate for callers with an open ``deny`` or ``throttle`` incident, and
``write_incidents`` puts opened and closed incidents into the audit chain (the
same recorder as crossings, so ``audit verify`` checks them), the metric
``shim_detections_total`` and a WARNING log line.
"""

from __future__ import annotations

import math
import time
from typing import TYPE_CHECKING, Final

from .incidents import Change, incident_event
from .logs import exception_fields, logger
from .problems import HTTPProblem

if TYPE_CHECKING:
    from starlette.types import Scope

    from . import auth
    from .pipeline import Shim
    from .tracking import Tracker

__all__ = ["PROBE", "enforce", "observe", "refuse_denied", "write_incidents"]

_THROTTLE: Final = 10  # a throttled caller gets a tenth of its rate and burst
PROBE: Final = "shim.probe"
"""Scope key set by a refusal only an attack earns, whatever its status: a proxy path
parameter that does not reverse (404), a body naming a member twice (400). Tracking
counts the request as a refusal (probing); the answer and the audit record keep the status."""
_BODY_METHODS: Final = frozenset({"POST", "PUT", "PATCH"})


def observe(
    tracker: Tracker,
    scope: Scope,
    caller: auth.Caller,
    group: str | None,
    direction: str,
    records: int,
    outcome: int,
) -> tuple[Change, ...]:
    """One audited request as a tracking observation; sets ``shim.flag`` for the envelope.

    Synchronous (no coroutine per request); the caller writes the changes it returns.

    Records count as leaving except on ``/v1/inbound`` (its one record goes in);
    a 422 on a request with a body is an inbound rejection (fields the caller may
    not send); a proxy route's path parameters are the ids it names.
    """
    subject = caller.subject  # side and name: a second credential starts no fresh baseline
    params = scope.get("path_params") if direction == "proxy" else None
    if (direction == "access" and outcome == 404) or PROBE in scope:
        # The grant endpoints answer 404 for a grant the caller may not see, so that ids
        # are no oracle: a refusal in disguise, counted as one (guessing ids is probing).
        # So are a proxy path value that names nothing (a forged token: 404) and a body
        # naming a member twice (400): only an attack earns either (red-team, ninth pass).
        outcome = 403
    changes = tracker.observe(
        subject,
        group,
        scope.get("shim.route"),
        records if direction != "inbound" else 0,
        outcome,
        outcome == 422
        and (direction == "inbound" or (direction == "proxy" and scope["method"] in _BODY_METHODS)),
        params.values() if params else None,
        time.time(),
    )
    flag = tracker.flags.get(subject)
    if flag is not None:
        scope["shim.flag"] = flag
    return changes


async def enforce(
    shim: Shim,
    scope: Scope,
    tracker: Tracker,
    caller: auth.Caller,
    group: str | None,
    direction: str,
) -> None:
    """403 (``deny``) or a tenth of the rate (``throttle``) while such an incident is open.

    Runs after the ordinary rate limit, so a denied or throttled caller still
    spends its budget and cannot make the audit store write faster than its limit.
    Tracking knows callers by person (``Caller.person``), so the effect holds
    for every credential of the person. The refusal is audited but not observed
    (``shim.untracked``): a denied
    caller's own 403s must not keep its incident open, so it closes once the
    caller has been quiet for a window.
    """
    effect, closed = tracker.enforcement(caller.subject, time.time())
    if closed:
        await write_incidents(shim, closed)
    if effect is None:
        return
    scope["shim.flag"] = tracker.flags.get(caller.subject)
    if effect == "deny":
        scope["shim.untracked"] = True
        await shim.audit(scope, caller, group, direction, 0, 403)
        raise _denied()
    rate, burst = shim.limiter.limit_of(caller)
    name = "throttled:" + caller.subject
    rate, burst = (rate / _THROTTLE if rate > 0 else 1.0), max(1, burst // _THROTTLE)
    shared = shim.shared  # with a store, one bucket over every worker, as the rate limit
    if shared is None:
        wait = shim.limiter.retry_after(name, rate, burst)
    else:
        wait = await shared.bucket(name, rate, burst)
    if wait is not None:
        scope["shim.untracked"] = True
        shim.metrics.rate_limited(group)
        await shim.audit(scope, caller, group, direction, 0, 429)
        raise HTTPProblem(
            429,
            "the caller is throttled while a tracking incident is open; retry later",
            headers={"Retry-After": str(max(1, math.ceil(wait)))},
        )


def refuse_denied(tracker: Tracker, scope: Scope, caller: auth.Caller, now: float) -> None:
    """403 if a ``deny`` incident of ``caller`` is open now (here or, shared, elsewhere).

    The gate checks the effects before the body is read; a request that passed it and
    then waited (a slow body, a slow upstream) while a deny opened must not cross
    either: otherwise a caller keeps requests open, trips the detection, and completes
    them (as many as its burst). Audited by the endpoint, not observed (like the gate's).
    """
    if tracker.effect(caller.subject, now) == "deny":
        scope["shim.untracked"] = True
        raise _denied()


def _denied() -> HTTPProblem:
    """The answer to a caller that a ``deny`` detection shuts out (the gate's and the re-check's)."""
    return HTTPProblem(
        403,
        "requests from this caller are refused while a tracking incident is open",
        slug="tracking-denied",
        title="Refused by tracking",
    )


async def write_incidents(shim: Shim, changes: tuple[Change, ...]) -> None:
    """Write incident events into the audit chain, count and log them.

    An incident event that cannot be written is an audit failure (metric and
    error log) but does not fail the request: its crossing is written already,
    and the effect holds either way. With a shared store an opened incident is
    claimed first (:meth:`.SharedTracking.claim`): when another worker holds the
    caller x kind, it writes the events and this worker only applies the effect.
    """
    spec = shim.spec
    sync = shim.tracking_sync
    for change in changes:
        incident = change.incident
        opened = change.event == "incident-opened"
        if sync is not None and opened:
            await sync.claim(incident)  # bounded by the store's timeout; down: claimed
        if not incident.claimed:  # another worker writes this caller x kind's events
            logger.info(
                "tracking incident held by another worker",
                extra={"event": change.event + "-elsewhere", "incident": incident.id,
                       "caller": incident.caller, "kind": incident.kind},
            )  # fmt: skip
            continue
        event = incident_event(change, spec.name, spec.version, spec.sha256)
        try:
            if shim.recorder is None:
                raise RuntimeError("audit sink not open")
            await shim.recorder.append(event, None)
        except Exception as exc:
            shim.metrics.audit_failure()
            logger.error(
                "incident event could not be written",
                extra={"event": "audit-failure", "incident": incident.id,
                       **exception_fields(exc)},
            )  # fmt: skip
        if opened:
            shim.metrics.detection(incident.caller, incident.kind)
        logger.warning(
            "tracking incident opened" if opened else "tracking incident closed",
            extra={"event": change.event, "incident": incident.id, "caller": incident.caller,
                   "kind": incident.kind, "effect": incident.effect, "group": incident.group,
                   "route": incident.route, "evidence": event["evidence"]},
        )  # fmt: skip
