"""Compare how groups are held: an elevation removed or relaxed lets members in more easily.

Each rule of an elevated group is one change of its own, so a reviewer sees
"approvals 2 → 1" as loosening even when nothing else moved. Longer grants,
fewer approvals, more holders, a new or longer break-glass and a dropped
exclusion loosen, and so does an approver group gained (more people may
vouch, and a requester finds a friendly approver more easily); the opposite
tightens; ``beyond`` is neutral (it changes what review compares with, and the
group the service then requires of every caller eligible for the elevated group).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from functools import partial

from shimgen.check.plan import Elevation
from shimgen.diff.model import Change, Kind
from shimgen.diff.side import Side
from shimgen.mapping.model import format_duration

__all__ = ["compare_elevations"]

_NO_CAP = float("inf")


_MEANS = {  # what each rule decides, for a reviewer who has not read docs/access.md
    "max_duration": "the longest a grant may last",
    "approvals": "how many approvers must agree before a grant starts",
    "max_holders": "how many callers may hold a grant at the same time",
    "break_glass": "how long an emergency grant taken without any approval may last",
}


def _names(items: tuple[str, ...]) -> str:
    return ", ".join(sorted(items)) or "none"


def compare_elevations(old: Side, new: Side) -> Iterator[Change]:
    """Changes in which groups are elevated and in each elevated group's rules."""
    a, b = old.plan.elevated, new.plan.elevated
    for name in sorted(old.plan.groups.keys() & new.plan.groups.keys()):
        subject, line = f"group {name}", new.line(("groups", name))
        ea, eb = a.get(name), b.get(name)
        if ea is not None and eb is None:
            why = "no longer elevated: every caller listed for it acts in it without a grant"
            yield Change(Kind.LOOSENED, subject, why, "elevated", "standing", line=line)
        elif ea is None and eb is not None:
            why = "now elevated: callers listed for it act in it only under an approved, expiring grant"
            yield Change(Kind.TIGHTENED, subject, why, "standing", "elevated", line=line)
        elif ea is not None and eb is not None and ea != eb:
            yield from _rules(subject, ea, eb, partial(_key_line, new, name))


def _key_line(side: Side, group: str, key: str) -> int | None:
    return side.line(("groups", group, "elevated", key))


def _rules(
    subject: str, a: Elevation, b: Elevation, line: Callable[[str], int | None]
) -> Iterator[Change]:
    """One change per rule that moved; ``line(key)`` is where NEW writes that key."""
    # (what, old, new, old as a number, new as a number, more is looser)
    glass_a, glass_b = a.break_glass_seconds or 0, b.break_glass_seconds or 0
    holders_a = a.max_holders if a.max_holders is not None else _NO_CAP
    holders_b = b.max_holders if b.max_holders is not None else _NO_CAP
    numbers = (
        ("max_duration", format_duration(a.max_seconds), format_duration(b.max_seconds),
         a.max_seconds, b.max_seconds, True),
        ("approvals", str(a.approvals), str(b.approvals), a.approvals, b.approvals, False),
        ("max_holders", str(a.max_holders or "no cap"), str(b.max_holders or "no cap"),
         holders_a, holders_b, True),
        ("break_glass", format_duration(glass_a) if glass_a else "none",
         format_duration(glass_b) if glass_b else "none", glass_a, glass_b, True),
    )  # fmt: skip
    for what, old, new, x, y, looser_up in numbers:
        if x != y:
            looser = (y > x) == looser_up
            kind = Kind.LOOSENED if looser else Kind.TIGHTENED
            reason = f"elevation {what} {old} → {new}: {_MEANS[what]}"
            yield Change(kind, subject, reason, old, new, line=line(what))
    dropped, added = set(a.excludes) - set(b.excludes), set(b.excludes) - set(a.excludes)
    if dropped:
        names = _names(tuple(dropped))
        why = (
            f"elevation no longer excludes {names}:"
            f" while holding a grant, a caller may now also act in {names}"
        )
        yield Change(
            Kind.LOOSENED,
            subject,
            why,
            _names(a.excludes),
            _names(b.excludes),
            line=line("excludes"),
        )
    if added:
        why = f"elevation now excludes {_names(tuple(added))}"
        yield Change(
            Kind.TIGHTENED, subject, why, _names(a.excludes), _names(b.excludes),
            line=line("excludes"),
        )  # fmt: skip
    gained, lost = set(b.approvers) - set(a.approvers), set(a.approvers) - set(b.approvers)
    old, new = _names(a.approvers), _names(b.approvers)
    if gained:  # more people may vouch: a request finds a friendly approver more easily
        why = f"elevation approvers gain {_names(tuple(gained))}: more people may approve"
        yield Change(Kind.LOOSENED, subject, why, old, new, line=line("approvers"))
    if lost:
        why = f"elevation approvers lose {_names(tuple(lost))}"
        yield Change(Kind.TIGHTENED, subject, why, old, new, line=line("approvers"))
    if a.beyond != b.beyond:
        why = "the group the review compares the elevation with changed"
        yield Change(Kind.NEUTRAL, subject, why, a.beyond, b.beyond, line=line("beyond"))
