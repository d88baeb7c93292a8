"""Elevation grants: the states a grant goes through and the rules each change obeys.

States: ``pending`` (requested, waiting for approvals) -> ``active`` (from
``starts`` to ``expires``) or ``queued`` (approved, but the group's holder
limit is reached: it waits and activates when a slot frees, oldest first; its
duration counts from activation) -> ``expired``; ``denied`` and ``revoked`` end
a grant in any live state. A break-glass grant is ``active`` at once.

Every change happens inside :meth:`GrantDB.exclusive` (one at a time over all
workers and replicas) and writes its audit events (``grant-*``, see
``audit.events``) *before* the transaction commits: if the events cannot be
stored, nothing changed. Expiry needs no writer to take effect: a grant is
active only while ``starts <= now < expires``, compared on every request with
the clock of that request. Its ``grant-expired`` event is written by the first
:meth:`Grants.sweep` after that (the next request of the holder in a guarded
group, any grant change, or the periodic sweep), exactly once, because the
sweep's state change is atomic.

Every method blocks; the service calls them from worker threads.
"""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Final

from .elevation import ElevatedSpec
from .grant_store import GrantDB, Run

__all__ = ["LIVE", "Grant", "GrantError", "Grants", "iso"]

LIVE: Final = ("pending", "queued", "active")
_COLUMNS: Final = (
    "id, grp, caller, state, reason, ticket, seconds, break_glass, requested, starts, "
    "expires, approved_by, ended_by, ended"
)
_MAX_LISTED: Final = 200
MAX_TEXT: Final = 1024


def iso(unix: float | None) -> str | None:
    """``2026-11-24T20:00:00.123456Z``, or None."""
    if unix is None:
        return None
    whole = int(unix)
    micros = round((unix - whole) * 1_000_000)
    if micros == 1_000_000:
        whole, micros = whole + 1, 0
    return f"{time.strftime('%Y-%m-%dT%H:%M:%S', time.gmtime(whole))}.{micros:06d}Z"


class GrantError(Exception):
    """A grant operation refused: the HTTP status, a slug and what to do about it."""

    def __init__(self, status: int, slug: str, detail: str) -> None:
        super().__init__(status, slug, detail)
        self.status, self.slug, self.detail = status, slug, detail


@dataclass(frozen=True, slots=True)
class Grant:
    """One row of the grant table."""

    id: str
    group: str
    caller: str
    state: str
    reason: str
    ticket: str | None
    seconds: int
    break_glass: bool
    requested: float
    starts: float | None
    expires: float | None
    approved_by: tuple[str, ...]
    ended_by: str | None
    ended: float | None

    @classmethod
    def of(cls, row: tuple[Any, ...]) -> Grant:
        (
            gid,
            group,
            caller,
            state,
            why,
            ticket,
            seconds,
            glass,
            requested,
            starts,
            expires,
            approved,
            ended_by,
            ended,
        ) = row
        return cls(
            gid,
            group,
            caller,
            state,
            why,
            ticket,
            int(seconds),
            bool(glass),
            float(requested),
            starts,
            expires,
            tuple(json.loads(approved)),
            ended_by,
            ended,
        )

    def public(self, rule: ElevatedSpec | None) -> dict[str, Any]:
        """The grant as the HTTP API shows it."""
        return {
            "id": self.id,
            "group": self.group,
            "caller": self.caller,
            "state": self.state,
            "break_glass": self.break_glass,
            "reason": self.reason,
            "ticket": self.ticket,
            "seconds": self.seconds,
            "requested": iso(self.requested),
            "starts": iso(self.starts),
            "expires": iso(self.expires),
            "approved_by": list(self.approved_by),
            "approvals_required": 0 if rule is None or self.break_glass else rule.approvals,
            "ended_by": self.ended_by,
            "ended": iso(self.ended),
        }


class Grants:
    """The grant rules over a :class:`GrantDB`; ``write_events`` stores audit events (blocking).

    ``clock`` is the wall clock (``time.time``); tests give several instances one
    controllable clock to show that expiry holds at the same second everywhere.
    """

    def __init__(
        self,
        db: GrantDB,
        elevated: Mapping[str, ElevatedSpec],
        mapping: Mapping[str, Any],
        write_events: Callable[[list[dict[str, Any]]], None],
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.db = db
        self.elevated = elevated
        self.mapping = dict(mapping)  # mapping, mapping_version, mapping_sha256
        self.write_events = write_events
        self.clock = clock

    # -- the per-request check ----------------------------------------------------------

    def active(self, caller: str) -> tuple[str, str] | None:
        """``(grant id, group)`` of the caller's grant active at this instant, or None.

        Read from the store on every call (no cache can outlive a revocation). A
        grant past ``expires`` is inactive here already; a stale row (expired but
        not yet marked, or queued) triggers a sweep so its events are written and
        a freed slot is handed on.
        """
        for attempt in (1, 2):
            rows = self.db.read(
                "SELECT id, grp, state, expires FROM grants WHERE caller = ? "
                "AND state IN ('active', 'queued')",
                (caller,),
            )
            now = self.clock()
            held, stale = None, False
            for gid, group, state, expires in rows:
                if state == "active" and expires is not None and now < expires:
                    held = (gid, group)
                else:
                    stale = True
            if not stale or attempt == 2:
                return held
            self.sweep()
        return None  # pragma: no cover - the loop returns

    # -- changes ---------------------------------------------------------------------------

    def request(
        self,
        caller: str,
        group: str,
        seconds: int,
        reason: str,
        ticket: str | None,
        break_glass: bool,
        request_id: str | None,
    ) -> tuple[Grant, str]:
        """A new grant for ``caller`` (eligibility is the caller's check); returns it and a note."""
        rule = self.elevated[group]
        with self.db.exclusive() as run:
            now = self.clock()
            events = self._sweep(run, now)
            mine = run(
                f"SELECT {_COLUMNS} FROM grants WHERE caller = ? AND state IN "
                "('pending', 'queued', 'active')",
                (caller,),
            )
            if mine:
                held = Grant.of(mine[0])
                raise GrantError(
                    409,
                    "one-elevated-group",
                    f"you already have a {held.state} grant for {held.group!r} (id {held.id}); "
                    "a caller holds one elevated group at a time: revoke it first",
                )
            gid = "g-" + secrets.token_hex(12)
            grant = Grant(
                gid,
                group,
                caller,
                "pending",
                reason,
                ticket,
                seconds,
                break_glass,
                now,
                None,
                None,
                (),
                None,
                None,
            )
            self._insert(run, grant)
            if break_glass:
                grant = self._activate(run, grant, now)
                events.append(
                    self._event("grant-break-glass", grant, caller, request_id, reason, now)
                )
                events.append(self._event("grant-activated", grant, None, request_id, None, now))
                note = (
                    "break-glass: active now without approval; this raised an alert and the "
                    "grant is listed for review"
                )
            else:
                events.append(
                    self._event("grant-requested", grant, caller, request_id, reason, now)
                )
                note = f"waiting for {rule.approvals} approval(s) from members of " + ", ".join(
                    sorted(rule.approvers)
                )
                if rule.approvals == 0:
                    grant, note = self._complete(run, grant, rule, now, request_id, events)
                elif self._full(run, group, rule, now):
                    note += (
                        "; the group is at its holder limit, so once approved the grant "
                        "waits in the queue and activates when a slot frees"
                    )
            self.write_events(events)
        return grant, note

    def approve(
        self,
        gid: str,
        actor: str,
        groups: frozenset[str],
        request_id: str | None,
        comment: str | None,
    ) -> tuple[Grant, str]:
        """Count ``actor``'s approval (once per approver); activate or queue at the threshold."""
        with self.db.exclusive() as run:
            now = self.clock()
            events = self._sweep(run, now)
            grant, may_approve = self._visible(run, gid, actor, groups)
            if grant.caller == actor:
                raise GrantError(
                    403,
                    "self-approval",
                    "a grant cannot be approved by the caller who requested it",
                )
            if not may_approve:
                raise GrantError(
                    403,
                    "not-an-approver",
                    f"only members of the approver groups of {grant.group!r} approve",
                )
            if grant.state != "pending":
                raise GrantError(409, "not-pending", f"the grant is {grant.state}, not pending")
            rule = self.elevated[grant.group]
            if actor in grant.approved_by:
                self.write_events(events)
                return grant, "your approval was already counted; approvals count once per approver"
            grant = _replace(grant, approved_by=(*grant.approved_by, actor))
            run(
                "UPDATE grants SET approved_by = ? WHERE id = ?",
                (json.dumps(grant.approved_by), gid),
            )
            events.append(self._event("grant-approved", grant, actor, request_id, comment, now))
            note = f"{len(grant.approved_by)} of {rule.approvals} approval(s)"
            if len(grant.approved_by) >= rule.approvals:
                grant, note = self._complete(run, grant, rule, now, request_id, events)
            self.write_events(events)
        return grant, note

    def deny(
        self,
        gid: str,
        actor: str,
        groups: frozenset[str],
        request_id: str | None,
        comment: str | None,
    ) -> Grant:
        """An approver ends a pending or queued request."""
        with self.db.exclusive() as run:
            now = self.clock()
            events = self._sweep(run, now)
            grant, may_approve = self._visible(run, gid, actor, groups)
            if not may_approve or grant.caller == actor:
                raise GrantError(
                    403,
                    "not-an-approver",
                    "only another member of the approver groups denies a request; "
                    "withdraw your own with revoke",
                )
            if grant.state not in ("pending", "queued"):
                raise GrantError(
                    409,
                    "not-pending",
                    f"the grant is {grant.state}; only a "
                    "pending or queued request can be denied (revoke an active one)",
                )
            grant = self._end(run, grant, "denied", actor, now)
            events.append(self._event("grant-denied", grant, actor, request_id, comment, now))
            self.write_events(events)
        return grant

    def revoke(
        self,
        gid: str,
        actor: str,
        groups: frozenset[str],
        request_id: str | None,
        comment: str | None,
    ) -> Grant:
        """The holder or an approver ends a live grant; the next request in its group is refused."""
        with self.db.exclusive() as run:
            now = self.clock()
            events = self._sweep(run, now)
            grant, _ = self._visible(run, gid, actor, groups)  # its holder, or an approver
            if grant.state not in LIVE:
                raise GrantError(409, "not-live", f"the grant is {grant.state} already")
            grant = self._end(run, grant, "revoked", actor, now)
            events.append(self._event("grant-revoked", grant, actor, request_id, comment, now))
            events += self._promote(run, grant.group, now)
            self.write_events(events)
        return grant

    def listing(self, caller: str, approves: frozenset[str]) -> list[Grant]:
        """The caller's own grants, and every grant of the groups it approves (newest first)."""
        self.sweep()
        marks = ", ".join("?" for _ in approves) or "NULL"
        rows = self.db.read(
            f"SELECT {_COLUMNS} FROM grants WHERE caller = ? OR grp IN ({marks}) "
            f"ORDER BY requested DESC LIMIT {_MAX_LISTED}",
            (caller, *sorted(approves)),
        )
        return [Grant.of(row) for row in rows]

    def sweep(self) -> int:
        """Mark expired grants, activate queued ones a slot freed; returns the events written."""
        rows = self.db.read(
            "SELECT COUNT(*) FROM grants WHERE state = 'queued' OR (state = 'active' AND expires <= ?)",
            (self.clock(),),
        )
        if not rows or not rows[0][0]:
            return 0
        with self.db.exclusive() as run:
            events = self._sweep(run, self.clock())
            self.write_events(events)
        return len(events)

    # -- inside a transaction ---------------------------------------------------------------

    def _sweep(self, run: Run, now: float) -> list[dict[str, Any]]:
        events: list[dict[str, Any]] = []
        groups = set()
        for row in run(
            f"SELECT {_COLUMNS} FROM grants WHERE state = 'active' AND expires <= ? "
            "ORDER BY expires",
            (now,),
        ):
            grant = Grant.of(row)
            run(
                "UPDATE grants SET state = 'expired', ended = ? WHERE id = ?",
                (grant.expires, grant.id),
            )
            grant = _replace(grant, state="expired", ended=grant.expires)
            events.append(self._event("grant-expired", grant, None, None, None, now))
            groups.add(grant.group)
        for (group,) in run("SELECT DISTINCT grp FROM grants WHERE state = 'queued'", ()):
            groups.add(group)
        for group in sorted(groups):
            events += self._promote(run, group, now)
        return events

    def _promote(self, run: Run, group: str, now: float) -> list[dict[str, Any]]:
        """Activate queued grants of ``group``, oldest first, while the holder limit allows."""
        rule = self.elevated.get(group)
        events: list[dict[str, Any]] = []
        if rule is None:
            return events
        queued = run(
            f"SELECT {_COLUMNS} FROM grants WHERE grp = ? AND state = 'queued' "
            "ORDER BY requested, id",
            (group,),
        )
        for row in queued:
            if self._full(run, group, rule, now):
                break
            grant = self._activate(run, Grant.of(row), now)
            events.append(self._event("grant-activated", grant, None, None, None, now))
        return events

    def _complete(
        self,
        run: Run,
        grant: Grant,
        rule: ElevatedSpec,
        now: float,
        request_id: str | None,
        events: list[dict[str, Any]],
    ) -> tuple[Grant, str]:
        """Approvals complete: active now, or queued when the holder limit is reached."""
        if self._full(run, grant.group, rule, now):
            run("UPDATE grants SET state = 'queued' WHERE id = ?", (grant.id,))
            grant = _replace(grant, state="queued")
            return grant, (
                "approved, but the group is at its holder limit "
                f"({rule.max_holders}): the grant waits in the queue and activates "
                "when a slot frees, oldest first"
            )
        grant = self._activate(run, grant, now)
        events.append(self._event("grant-activated", grant, None, request_id, None, now))
        return grant, f"active until {iso(grant.expires)}"

    def _full(self, run: Run, group: str, rule: ElevatedSpec, now: float) -> bool:
        if rule.max_holders is None:
            return False
        rows = run(
            "SELECT COUNT(*) FROM grants WHERE grp = ? AND state = 'active' AND expires > ?",
            (group, now),
        )
        return int(rows[0][0]) >= rule.max_holders

    def _activate(self, run: Run, grant: Grant, now: float) -> Grant:
        expires = now + grant.seconds
        run(
            "UPDATE grants SET state = 'active', starts = ?, expires = ? WHERE id = ?",
            (now, expires, grant.id),
        )
        return _replace(grant, state="active", starts=now, expires=expires)

    def _end(self, run: Run, grant: Grant, state: str, actor: str, now: float) -> Grant:
        run(
            "UPDATE grants SET state = ?, ended_by = ?, ended = ? WHERE id = ?",
            (state, actor, now, grant.id),
        )
        return _replace(grant, state=state, ended_by=actor, ended=now)

    def _insert(self, run: Run, g: Grant) -> None:
        run(
            f"INSERT INTO grants ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                g.id,
                g.group,
                g.caller,
                g.state,
                g.reason,
                g.ticket,
                g.seconds,
                int(g.break_glass),
                g.requested,
                g.starts,
                g.expires,
                "[]",
                None,
                None,
            ),
        )

    def _visible(
        self, run: Run, gid: str, actor: str, groups: frozenset[str]
    ) -> tuple[Grant, bool]:
        """The grant if ``actor`` (in ``groups``) may see it, and whether it approves its group.

        A grant that is neither the actor's own nor of a group it approves is a
        404, like one that does not exist: ids are not an oracle.
        """
        rows = run(f"SELECT {_COLUMNS} FROM grants WHERE id = ?", (gid,))
        grant = Grant.of(rows[0]) if rows else None
        rule = self.elevated.get(grant.group) if grant is not None else None
        may_approve = rule is not None and not rule.approvers.isdisjoint(groups)
        if grant is None or rule is None or not (grant.caller == actor or may_approve):
            raise GrantError(404, "no-such-grant", "no grant with this id is visible to you")
        return grant, may_approve

    def _event(
        self,
        kind: str,
        g: Grant,
        actor: str | None,
        request_id: str | None,
        reason: str | None,
        now: float,
    ) -> dict[str, Any]:
        return {
            "time": iso(now),
            "event": kind,
            "request_id": request_id,
            "grant": g.id,
            "group": g.group,
            "caller": g.caller,
            "actor": actor,
            "reason": reason,
            "ticket": g.ticket,
            "starts": iso(g.starts),
            "expires": iso(g.expires),
            **self.mapping,
        }


def _replace(grant: Grant, **changes: Any) -> Grant:
    from dataclasses import replace

    return replace(grant, **changes)
