"""A grant as stored: its row, how the API shows it, its audit events, and the row changes.

The rules that decide *when* a row changes are :mod:`.grants`'; here is only
what a grant is, so the two stay short and the rules read as rules.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any, Final

from ..audit.grant_ledger import person
from .elevation import ElevatedSpec
from .grant_store import Run

__all__ = [
    "COLUMNS",
    "LIVE",
    "MAX_TEXT",
    "Grant",
    "GrantError",
    "activate",
    "end",
    "insert",
    "iso",
    "person",
    "with_article",
]

LIVE: Final = ("pending", "queued", "active")
COLUMNS: Final = (
    "id, grp, caller, state, reason, ticket, seconds, break_glass, requested, starts, "
    "expires, approved_by, ended_by, ended"
)
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

    def event(
        self,
        kind: str,
        actor: str | None,
        request_id: str | None,
        reason: str | None,
        now: float,
        mapping: Mapping[str, Any],
    ) -> dict[str, Any]:
        """The grant event ``kind`` (``audit.events.GRANT_FIELDS``), for the audit chain."""
        return {
            "time": iso(now),
            "event": kind,
            "request_id": request_id,
            "grant": self.id,
            "group": self.group,
            "caller": self.caller,
            "actor": actor,
            "reason": reason,
            "ticket": self.ticket,
            "starts": iso(self.starts),
            "expires": iso(self.expires),
            **mapping,
        }


def activate(run: Run, grant: Grant, now: float) -> Grant:
    """Make ``grant`` active from ``now`` for its duration."""
    expires = now + grant.seconds
    run(
        "UPDATE grants SET state = 'active', starts = ?, expires = ? WHERE id = ?",
        (now, expires, grant.id),
    )
    return replace(grant, state="active", starts=now, expires=expires)


def end(run: Run, grant: Grant, state: str, actor: str, now: float) -> Grant:
    """End ``grant`` (denied, revoked) by ``actor`` at ``now``."""
    run(
        "UPDATE grants SET state = ?, ended_by = ?, ended = ? WHERE id = ?",
        (state, actor, now, grant.id),
    )
    return replace(grant, state=state, ended_by=actor, ended=now)


def insert(run: Run, g: Grant) -> None:
    """Store a new grant (no approvals yet)."""
    run(
        f"INSERT INTO grants ({COLUMNS}, person) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
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
            person(g.caller),
        ),
    )


def with_article(word: str) -> str:
    """``word`` with its indefinite article: "an active", "a pending", "a queued".

    Messages name a grant's state, which is only known when they are made.
    """
    return f"{'an' if word and word[0] in 'aeiou' else 'a'} {word}"
