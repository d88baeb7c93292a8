"""Elevation grants: the states a grant goes through and the rules each change obeys.

States: ``pending`` (requested, waiting for approvals) -> ``active`` (from
``starts`` to ``expires``) or ``queued`` (approved, but the group's holder
limit is reached: it waits and activates when a slot frees, oldest first; its
duration counts from activation) -> ``expired``; ``denied`` and ``revoked`` end
a grant in any live state. A break-glass grant is ``active`` at once.

A request that is not active :data:`REQUEST_TTL` after it was made (still
pending, or queued) lapses (``expired``): an approval weeks later must not
activate a reason nobody remembers, nor a queue hand a slot to a caller who no
longer needs it. Break-glass is once per person and group per
:data:`BREAK_GLASS_COOLDOWN`: back-to-back emergency grants would be standing
access without approval; a longer emergency asks for an approved grant.

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

import contextlib
import json
import secrets
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import replace
from typing import Any, Final

from ..audit.grant_ledger import BREAK_GLASS_COOLDOWN
from .elevation import ElevatedSpec
from .grant_model import (
    COLUMNS,
    LIVE,
    MAX_TEXT,
    Grant,
    GrantError,
    activate,
    end,
    insert,
    iso,
    person,
    with_article,
)
from .grant_queue import REQUEST_TTL, due, full, glass_cooldown, lapse_note, promote, sweep
from .grant_store import GrantDB, Run

__all__ = [
    "BREAK_GLASS_COOLDOWN",
    "LIVE",
    "MAX_TEXT",
    "REQUEST_TTL",
    "Grant",
    "GrantError",
    "Grants",
    "iso",
]

_MAX_LISTED: Final = 200


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

    def active(self, caller: str) -> tuple[str, str, str] | None:
        """``(grant id, group, holder identity)`` of the grant the caller's person holds now.

        The person, not the credential: a grant requested with an API key is held
        by that key only, but excludes its groups for a JWT of the same name too.
        Read from the store on every call (no cache can outlive a revocation). A
        grant past ``expires`` is inactive here already; a stale row (expired but
        not yet marked, or queued) triggers a sweep so its events are written and
        a freed slot is handed on.
        """
        for attempt in (1, 2):
            rows = self.db.read(
                "SELECT id, grp, state, expires, caller FROM grants WHERE person = ? "
                "AND state IN ('active', 'queued')",
                (person(caller),),
            )
            now = self.clock()
            held, stale = None, False
            for gid, group, state, expires, holder in rows:
                if state == "active" and expires is not None and now < expires:
                    held = (gid, group, holder)
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
        with self._change() as (run, now, events):
            mine = run(  # by person: a second credential of the same name holds no second group
                f"SELECT {COLUMNS} FROM grants WHERE person = ? AND state IN "
                "('pending', 'queued', 'active')",
                (person(caller),),
            )
            if mine:
                held = Grant.of(mine[0])
                raise GrantError(
                    409,
                    "one-elevated-group",
                    f"you already have {with_article(held.state)} grant for {held.group!r} (id {held.id}); "
                    "a caller holds one elevated group at a time: revoke it first",
                )
            if break_glass:
                glass_cooldown(run, caller, group, now)
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
            insert(run, grant)
            if break_glass:
                grant = activate(run, grant, now)
                events.append(
                    grant.event("grant-break-glass", caller, request_id, reason, now, self.mapping)
                )
                events.append(
                    grant.event("grant-activated", None, request_id, None, now, self.mapping)
                )
                note = (
                    "break-glass: active now without approval; this raised an alert and the "
                    "grant is listed for review"
                )
            else:
                events.append(
                    grant.event("grant-requested", caller, request_id, reason, now, self.mapping)
                )
                note = f"waiting for {rule.approvals} approval(s) from members of " + ", ".join(
                    sorted(rule.approvers)
                )
                if rule.approvals == 0:
                    grant, note = self._complete(run, grant, rule, now, request_id, events)
                elif full(run, group, rule, now):
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
        with self._change() as (run, now, events):
            grant, may_approve = self._visible(run, gid, actor, groups, now)
            if person(grant.caller) == person(actor):  # with any of its credentials
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
                raise GrantError(
                    409,
                    "not-pending",
                    f"the grant is {grant.state}, not pending{lapse_note(grant)}",
                )
            rule = self.elevated[grant.group]
            if person(actor) in {person(a) for a in grant.approved_by}:
                self.write_events(events)
                return grant, "your approval was already counted; approvals count once per approver"
            grant = replace(grant, approved_by=(*grant.approved_by, actor))
            run(
                "UPDATE grants SET approved_by = ? WHERE id = ?",
                (json.dumps(grant.approved_by), gid),
            )
            events.append(
                grant.event("grant-approved", actor, request_id, comment, now, self.mapping)
            )
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
        with self._change() as (run, now, events):
            grant, may_approve = self._visible(run, gid, actor, groups, now)
            if not may_approve or person(grant.caller) == person(actor):
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
                    f"the grant is {grant.state}{lapse_note(grant)}; only a "
                    "pending or queued request can be denied (revoke an active one)",
                )
            _no_conflict(run, grant, actor, "denying")
            grant = end(run, grant, "denied", actor, now)
            events.append(
                grant.event("grant-denied", actor, request_id, comment, now, self.mapping)
            )
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
        """The holder or an approver ends a live grant; the next request in its group is refused.

        An approver waiting for a slot of the same group themselves (a pending or
        queued request) revokes nobody else's grant there: the freed slot would go
        to their own request, a conflict of interest another approver must decide.
        """
        with self._change() as (run, now, events):
            grant, _ = self._visible(run, gid, actor, groups, now)  # its holder, or an approver
            if grant.state not in LIVE:
                raise GrantError(
                    409, "not-live", f"the grant is {grant.state} already{lapse_note(grant)}"
                )
            _no_conflict(run, grant, actor, "revoking")
            grant = end(run, grant, "revoked", actor, now)
            events.append(
                grant.event("grant-revoked", actor, request_id, comment, now, self.mapping)
            )
            events += promote(run, self.elevated, self.mapping, grant.group, now)
            self.write_events(events)
        return grant

    def listing(self, caller: str, approving: frozenset[str]) -> list[Grant]:
        """The caller's own grants, and every grant of the groups it approves (live first,
        then newest first). ``approving``: the groups the caller may approve in. An approver
        group the caller's own active grant excludes approves nothing while it lasts
        (:meth:`_visible`), so the reasons and tickets of its grants are not listed either."""
        self.sweep()
        _, shut = _shut(self.db.read, self.elevated, caller, self.clock())
        approves = frozenset(
            name for name, rule in self.elevated.items() if (rule.approvers & approving) - shut
        )
        marks = ", ".join("?" for _ in approves) or "NULL"
        rows = self.db.read(
            f"SELECT {COLUMNS} FROM grants WHERE caller = ? OR grp IN ({marks}) "
            # live and break-glass grants first: a burst of ended requests cannot push
            # an emergency grant or a pending one out of the approvers' list
            "ORDER BY CASE WHEN state IN ('pending', 'queued', 'active') OR break_glass = 1 "
            f"THEN 0 ELSE 1 END, requested DESC LIMIT {_MAX_LISTED}",
            (caller, *sorted(approves)),
        )
        return [Grant.of(row) for row in rows]

    def ping(self) -> None:
        """Raise if the store cannot be read now (``/readyz``)."""
        self.db.read("SELECT COUNT(*) FROM grants WHERE id = ''")

    def sweep(self) -> int:
        """Mark expired grants and lapsed requests, activate queued ones a slot freed;
        returns the events written."""
        if not due(self.db.read, self.elevated, self.clock()):
            return 0
        with self.db.exclusive() as run:
            events = sweep(run, self.elevated, self.mapping, self.clock())
            self.write_events(events)
        return len(events)

    # -- inside a transaction ---------------------------------------------------------------

    @contextlib.contextmanager
    def _change(self) -> Iterator[tuple[Run, float, list[dict[str, Any]]]]:
        """The transaction of one change, its clock, and the events of its sweep.

        What time decided (expiries, lapses) is swept and committed first, apart: a
        change refused below must not roll it back. The change's own transaction
        sweeps again at its own clock.
        """
        self.sweep()
        with self.db.exclusive() as run:
            now = self.clock()
            yield run, now, sweep(run, self.elevated, self.mapping, now)

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
        if full(run, grant.group, rule, now):
            run("UPDATE grants SET state = 'queued' WHERE id = ?", (grant.id,))
            grant = replace(grant, state="queued")
            return grant, (
                "approved, but the group is at its holder limit "
                f"({rule.max_holders}): the grant waits in the queue and activates "
                "when a slot frees, oldest first"
            )
        grant = activate(run, grant, now)
        events.append(grant.event("grant-activated", None, request_id, None, now, self.mapping))
        return grant, f"active until {iso(grant.expires)}"

    def _visible(
        self, run: Run, gid: str, actor: str, groups: frozenset[str], now: float
    ) -> tuple[Grant, bool]:
        """The grant if ``actor`` (in ``groups``) may see it, and whether it approves its group.

        A grant that is neither the actor's own nor of a group it approves is a
        404, like one that does not exist: ids are not an oracle. An approver
        group that the actor's active grant excludes approves nothing while the
        grant lasts (403 ``excluded-group``): the actor cannot act in that group,
        so it cannot vouch, refuse or revoke in its name either.
        """
        rows = run(f"SELECT {COLUMNS} FROM grants WHERE id = ?", (gid,))
        grant = Grant.of(rows[0]) if rows else None
        rule = self.elevated.get(grant.group) if grant is not None else None
        approving = groups & rule.approvers if rule is not None else frozenset()
        own = grant is not None and grant.caller == actor  # the very credential, never a namesake
        if grant is None or rule is None or not (own or approving):
            raise GrantError(404, "no-such-grant", "no grant with this id is visible to you")
        held, shut = _shut(run, self.elevated, actor, now)
        if approving and approving <= shut and not own:
            raise GrantError(
                403,
                "excluded-group",
                f"your active grant for {held!r} excludes "
                + ", ".join(repr(g) for g in sorted(approving))
                + ", the group(s) you approve in: revoke your grant first",
            )
        return grant, bool(approving - shut)


def _shut(run: Run, elevated: Any, actor: str, now: float) -> tuple[str, frozenset[str]]:
    """The elevated group ``actor`` (as a person) holds now, and the groups it excludes."""
    held = run(
        "SELECT grp FROM grants WHERE person = ? AND state = 'active' AND expires > ?",
        (person(actor), now),
    )
    if held and held[0][0] in elevated:
        return str(held[0][0]), frozenset(elevated[held[0][0]].excludes)
    return "", frozenset()


def _no_conflict(run: Run, grant: Grant, actor: str, doing: str) -> None:
    """409 ``revoke-conflict`` when ``actor`` waits for a slot of ``grant``'s group itself.

    Ending another caller's grant or request there (revoke, deny) moves the
    actor up the queue or frees the slot for its own request: a conflict of
    interest that another approver must decide. Every action that ends or
    reorders someone else's grant asks here.
    """
    if person(grant.caller) != person(actor) and run(
        "SELECT id FROM grants WHERE person = ? AND grp = ? AND state IN ('pending', 'queued')",
        (person(actor), grant.group),
    ):
        raise GrantError(
            409,
            "revoke-conflict",
            f"you are waiting for a grant of {grant.group!r} yourself, so {doing} another "
            "caller's would move your own request up: ask another approver, or withdraw your "
            "own request first",
        )
