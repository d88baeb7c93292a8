"""What the chained grant events allowed, held against the crossings made under grants.

The grant store sits beside the hash chain, not in it: whoever can write it can
make a row that lets requests cross, a new one, or an old grant made active
again, made longer or handed to somebody else. But every grant change is a
chained event and every crossing under a grant names it, so the chain alone
says which crossings each grant allowed. ``audit verify`` reports:

* a crossing under a grant no chained event activated (``unknown grant``);
* a crossing under a grant by a caller other than the holder the chain names,
  in another group than the one the chain says it was granted for, or outside
  the time the chain says the grant was active, from activation to the first of
  its expiry and its revocation (``grant misused``; clocks of replicas may
  differ by up to :data:`SKEW` seconds). A ``proxy-forward`` event is held to
  all three like the crossing it announces (it has no latency: its time is when
  it was sent);
* an approval by the person who requested the grant (``self-approved grant``);
* two break-glass grants of one person and group within
  :data:`BREAK_GLASS_COOLDOWN` (``break-glass repeated``): deleting the first
  row from the store would otherwise reopen emergency access.

People are compared by :func:`person`, the rule the service applies too.
Memory is per grant (and per distinct caller and group of a grant), not per record.
"""

from __future__ import annotations

import itertools
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Final

from .breaks import Break

__all__ = ["BREAK_GLASS_COOLDOWN", "SKEW", "GrantLedger", "bare_name", "person"]

BREAK_GLASS_COOLDOWN: Final = 24 * 3600  # seconds between two break-glass grants of one person
SKEW: Final = 1.0  # seconds the clocks of two replicas may differ by

UNKNOWN_GRANT = ("unknown grant", "a crossing names a grant the trail never activated")
WRONG_HOLDER = ("grant misused", "a crossing under a grant by a caller other than its holder")
WRONG_GROUP = (
    "grant misused",
    "a crossing under a grant in another group than the one it was granted for",
)
OUT_OF_TIME = ("grant misused", "a crossing under a grant outside the time it was active")
SELF_APPROVED = ("self-approved grant", "a grant approved by the person who requested it")
GLASS_AGAIN = (
    "break-glass repeated",
    "a second break-glass grant of one person and group within 24 hours",
)


def person(identity: str) -> str:
    """The name behind a credential: ``key:alice``, ``jwt:<issuer>#alice``, ``jwt:...#Alice``
    and ``jwt:...#alice `` are all alice.

    Grants are held, seen and revoked by the credential that asked (ownership
    compares whole identities), but the rules that *restrict* people (no
    self-approval, approvers counted once, one elevated group at a time,
    exclusions, the break-glass cooldown) go by this name, so a second
    credential of the same name, or a case, compatibility or white-space variant
    of it, gains nothing. A JWT subject never holds ``#`` (the authenticator
    refuses one), so the last ``#`` ends the issuer.
    """
    name = bare_name(identity)
    return " ".join(unicodedata.normalize("NFKC", name).casefold().split())


def bare_name(identity: str) -> str:
    """The name in an identity, exactly as written: ``key:bob``, ``jwt:<issuer>#bob`` and a
    tracking subject ``internal:bob`` are all ``bob`` (after the last ``#`` of a JWT's, which
    a subject never holds; else after the first ``:``)."""
    if identity.startswith("jwt:"):
        return identity.rpartition("#")[2]
    return identity.partition(":")[2] or identity


def _unix(text: object) -> float | None:
    """A record's ``2026-11-24T20:00:00.123456Z`` as Unix time; None if it is not one."""
    if not isinstance(text, str):
        return None
    try:
        return datetime.fromisoformat(text).timestamp()
    except ValueError:
        return None


@dataclass(slots=True)
class _Grant:
    """What the chain says about one grant, and the extremes of the crossings made under it."""

    holder: str | None = None  # the credential that activated it
    group: str | None = None  # the elevated group the chain says it was granted for
    starts: float | None = None
    ends: float | None = None  # the first of expiry and revocation
    callers: dict[str, Break] = field(default_factory=dict)  # first crossing per caller
    groups: dict[str | None, Break] = field(default_factory=dict)  # first crossing per group
    first: tuple[float, Break] | None = None  # the crossing that ended earliest
    last: tuple[float, Break] | None = None  # the crossing that started latest


class GrantLedger:
    """Fed every record of a verified chain (:meth:`see`); :meth:`breaks` at the end."""

    __slots__ = ("_breaks", "_glass", "_grants")

    def __init__(self) -> None:
        self._grants: dict[str, _Grant] = {}
        self._breaks: list[Break] = []
        self._glass: dict[tuple[str, str], list[tuple[float, Break]]] = {}

    def see(self, position: int, record: Mapping[str, Any]) -> None:
        gid = record.get("grant")
        if not isinstance(gid, str):
            return
        grant = self._grants.get(gid)
        if grant is None:
            grant = self._grants[gid] = _Grant()
        here = Break(position, record["chain"], record["seq"], "", "")
        kind = record.get("event")
        if kind is None or kind == "proxy-forward":  # a write sent inward is a crossing too
            self._crossing(grant, here, record)
        elif kind == "grant-break-glass":
            self._activated(grant, record)
            when = _unix(record.get("time"))
            if when is not None:
                key = (person(str(record.get("caller"))), str(record.get("group")))
                self._glass.setdefault(key, []).append((when, here))
        elif kind == "grant-approved":
            actor = record.get("actor")
            caller = record.get("caller")
            if (
                isinstance(actor, str)
                and isinstance(caller, str)
                and person(actor) == person(caller)
            ):
                self._breaks.append(_named(here, SELF_APPROVED))
        elif kind == "grant-activated":
            self._activated(grant, record)
        elif kind in ("grant-revoked", "grant-expired"):
            ended = _unix(record.get("time") if kind == "grant-revoked" else record.get("expires"))
            if ended is not None and (grant.ends is None or ended < grant.ends):
                grant.ends = ended

    def breaks(self) -> list[Break]:
        """Every problem found, one per kind and grant (the first crossing that shows it)."""
        found = list(self._breaks)
        for grant in self._grants.values():
            if not grant.callers:
                continue
            if grant.holder is None:  # never activated by a chained event
                found.append(_named(min(grant.callers.values(), key=_position), UNKNOWN_GRANT))
                continue
            others = [b for caller, b in grant.callers.items() if caller != grant.holder]
            if others:
                found.append(_named(min(others, key=_position), WRONG_HOLDER))
            # a row of the store moved to another elevated group: the chain granted one
            elsewhere = [b for group, b in grant.groups.items() if group != grant.group]
            if elsewhere:
                found.append(_named(min(elsewhere, key=_position), WRONG_GROUP))
            first, last = grant.first, grant.last
            if first is not None and grant.starts is not None and first[0] < grant.starts - SKEW:
                found.append(_named(first[1], OUT_OF_TIME))
            elif last is not None and grant.ends is not None and last[0] > grant.ends + SKEW:
                found.append(_named(last[1], OUT_OF_TIME))
        for taken in self._glass.values():
            taken.sort(key=lambda t: t[0])
            for (before, _), (when, where) in itertools.pairwise(taken):
                if when - before < BREAK_GLASS_COOLDOWN:
                    found.append(_named(where, GLASS_AGAIN))
        return found

    def _activated(self, grant: _Grant, record: Mapping[str, Any]) -> None:
        holder = record.get("caller")
        grant.holder = holder if isinstance(holder, str) else None
        group = record.get("group")
        grant.group = group if isinstance(group, str) else None
        grant.starts = _unix(record.get("starts"))
        expires = _unix(record.get("expires"))
        if expires is not None and (grant.ends is None or expires < grant.ends):
            grant.ends = expires

    @staticmethod
    def _crossing(grant: _Grant, here: Break, record: Mapping[str, Any]) -> None:
        caller = record.get("caller")
        if isinstance(caller, str) and caller not in grant.callers:
            grant.callers[caller] = here
        group = record.get("group")
        group = group if isinstance(group, str) else None
        if group not in grant.groups:
            grant.groups[group] = here
        done = _unix(record.get("time"))
        # A proxy-forward event has no latency: it is written the moment the write is sent.
        latency = record.get("latency_ms", 0 if record.get("event") == "proxy-forward" else None)
        if done is None or not isinstance(latency, int | float):
            return
        began = done - latency / 1000
        if grant.first is None or done < grant.first[0]:
            grant.first = (done, here)
        if grant.last is None or began > grant.last[0]:
            grant.last = (began, here)


def _position(found: Break) -> int:
    return found.position


def _named(where: Break, what: tuple[str, str]) -> Break:
    return Break(where.position, where.chain, where.seq, *what)
