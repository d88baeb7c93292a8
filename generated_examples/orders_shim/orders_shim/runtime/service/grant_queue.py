"""What time and the holder limits decide about grants: expiries, lapses, the queue, cooldowns.

A grant expires at ``expires`` and a request that is not active
:data:`REQUEST_TTL` after it was made lapses; a queued grant activates, oldest
first, when its group has a free slot. None of these needs a writer to take
effect on requests (the per-request check compares times), but each must be
recorded once: :func:`sweep` makes the changes and returns their audit events,
inside the caller's transaction. :func:`due` says, without the write lock,
whether a sweep would change anything.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Any, Final

from ..audit.grant_ledger import BREAK_GLASS_COOLDOWN
from .elevation import ElevatedSpec
from .grant_model import COLUMNS, Grant, GrantError, activate, iso, person
from .grant_store import Run

__all__ = ["REQUEST_TTL", "due", "full", "glass_cooldown", "lapse_note", "promote", "sweep"]

REQUEST_TTL: Final = 24 * 3600  # seconds a request may wait (pending or queued), as Entra PIM

Events = list[dict[str, Any]]


def due(read: Run, elevated: Mapping[str, ElevatedSpec], now: float) -> bool:
    """Whether a sweep at ``now`` has anything to do (``read`` needs no write lock).

    Something is due when a grant has expired, a request has lapsed, or a
    queued grant's group has a free slot. A queue behind a full group is not:
    otherwise each guarded request of a queued caller, and every sweep of every
    worker while anyone is queued, would take the store's write lock (one
    writer over all replicas) only to find nothing to change.
    """
    rows = read(
        "SELECT grp, "
        "SUM(CASE WHEN state = 'queued' THEN 1 ELSE 0 END), "
        "SUM(CASE WHEN state = 'active' AND expires > ? THEN 1 ELSE 0 END), "
        "SUM(CASE WHEN (state = 'active' AND expires <= ?) OR (state IN ('pending', "
        "'queued') AND requested <= ?) THEN 1 ELSE 0 END) "
        "FROM grants WHERE state IN ('pending', 'queued', 'active') GROUP BY grp",
        (now, now, now - REQUEST_TTL),
    )
    for group, queued, active, ended in rows:
        if ended:
            return True
        rule = elevated.get(group)
        if queued and rule is not None and not _at_limit(rule, int(active)):
            return True
    return False


def sweep(
    run: Run, elevated: Mapping[str, ElevatedSpec], mapping: Mapping[str, Any], now: float
) -> Events:
    """Mark expired grants and lapsed requests, activate what the freed slots allow; the events."""
    events: Events = []
    groups = set()
    for row in run(
        f"SELECT {COLUMNS} FROM grants WHERE state = 'active' AND expires <= ? ORDER BY expires",
        (now,),
    ):
        grant = Grant.of(row)
        run(
            "UPDATE grants SET state = 'expired', ended = ? WHERE id = ?",
            (grant.expires, grant.id),
        )
        grant = replace(grant, state="expired", ended=grant.expires)
        events.append(grant.event("grant-expired", None, None, None, now, mapping))
        groups.add(grant.group)
    for row in run(  # lapsed requests: never active within REQUEST_TTL of asking
        f"SELECT {COLUMNS} FROM grants WHERE state IN ('pending', 'queued') "
        "AND requested <= ? ORDER BY requested",
        (now - REQUEST_TTL,),
    ):
        grant = Grant.of(row)
        ended = grant.requested + REQUEST_TTL
        run("UPDATE grants SET state = 'expired', ended = ? WHERE id = ?", (ended, grant.id))
        grant = replace(grant, state="expired", ended=ended)
        events.append(grant.event("grant-expired", None, None, None, now, mapping))
    for (group,) in run("SELECT DISTINCT grp FROM grants WHERE state = 'queued'", ()):
        groups.add(group)
    for group in sorted(groups):
        events += promote(run, elevated, mapping, group, now)
    return events


def promote(
    run: Run,
    elevated: Mapping[str, ElevatedSpec],
    mapping: Mapping[str, Any],
    group: str,
    now: float,
) -> Events:
    """Activate queued grants of ``group``, oldest first, while the holder limit allows."""
    rule = elevated.get(group)
    events: Events = []
    if rule is None:
        return events
    queued = run(
        f"SELECT {COLUMNS} FROM grants WHERE grp = ? AND state = 'queued' ORDER BY requested, id",
        (group,),
    )
    for row in queued:
        if full(run, group, rule, now):
            break
        grant = activate(run, Grant.of(row), now)
        events.append(grant.event("grant-activated", None, None, None, now, mapping))
    return events


def full(run: Run, group: str, rule: ElevatedSpec, now: float) -> bool:
    """Whether ``group`` has as many active grants as its holder limit allows."""
    if rule.max_holders is None:
        return False
    rows = run(
        "SELECT COUNT(*) FROM grants WHERE grp = ? AND state = 'active' AND expires > ?",
        (group, now),
    )
    return _at_limit(rule, int(rows[0][0]))


def _at_limit(rule: ElevatedSpec, active: int) -> bool:
    return rule.max_holders is not None and active >= rule.max_holders


def lapse_note(grant: Grant) -> str:
    """For a request that lapsed: when, and why; else nothing.

    A lapsed request is ``expired`` without ever having started (``starts`` is
    null). "The grant is expired" alone reads as a grant that ran its time, and
    leaves a late approver wondering what happened and what to do.
    """
    if grant.state != "expired" or grant.starts is not None or grant.ended is None:
        return ""
    return (
        f": the request lapsed at {iso(grant.ended)} (a request not active "
        f"{REQUEST_TTL // 3600} h after it was made lapses); a new request is needed"
    )


def glass_cooldown(run: Run, caller: str, group: str, now: float) -> None:
    """409 if the caller's person took a break-glass grant of ``group`` in the last
    :data:`BREAK_GLASS_COOLDOWN` seconds (whichever credential it used)."""
    rows = run(
        "SELECT MAX(requested) FROM grants WHERE person = ? AND grp = ? AND break_glass = 1 "
        "AND requested > ?",
        (person(caller), group, now - BREAK_GLASS_COOLDOWN),
    )
    last = rows[0][0] if rows else None
    if last is not None:
        raise GrantError(
            409,
            "break-glass-cooldown",
            f"you took a break-glass grant of {group!r} at {iso(last)}; break-glass is "
            f"once per person and group in {BREAK_GLASS_COOLDOWN // 3600} h: request a "
            "grant with approval (the approvers have been alerted already)",
        )
