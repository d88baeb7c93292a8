"""Compare what heuristic-tracking detections do: a weaker effect lets misuse go on longer.

A detection's effect is ``log`` (the default), ``flag``, ``throttle`` or ``deny``,
weakest first (``shimgen.mapping.model.TrackingEffect``). Taking away a ``deny``
lets an enumeration that was stopped run to the end, so it is a loosening, and a
reviewer must see it beside the fields it protects.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import get_args

from shimgen.diff.model import Change, Kind
from shimgen.diff.side import Side
from shimgen.mapping.model import DEFAULT_TRACKING_EFFECT, TrackingEffect, TrackingKind

__all__ = ["compare_tracking"]

_STRENGTH = {effect: i for i, effect in enumerate(get_args(TrackingEffect))}
_LOST = {  # what a weakened effect no longer does to a caller while its incident is open
    "deny": "stopped (403 on every request)",
    "throttle": "slowed down (a tenth of its rate limit)",
    "flag": "marked (Shim-Flag on every response)",
}


def compare_tracking(old: Side, new: Side) -> Iterator[Change]:
    """One change per detection kind whose effect moved; an absent kind is ``log``."""
    for kind in get_args(TrackingKind):
        a, b = (
            old.plan.tracking.get(kind, DEFAULT_TRACKING_EFFECT),
            new.plan.tracking.get(kind, DEFAULT_TRACKING_EFFECT),
        )
        if a == b:
            continue
        weaker = _STRENGTH[b] < _STRENGTH[a]
        why = (
            f"a {kind} incident now gets `{b}` (was `{a}`): the caller is no longer {_LOST[a]}"
            if weaker
            else f"a {kind} incident now gets `{b}` (was `{a}`)"
        )
        written = ("tracking", kind) in new.loaded.positions.keys
        yield Change(
            Kind.LOOSENED if weaker else Kind.TIGHTENED,
            f"tracking {kind}",
            why,
            a,
            b,
            line=new.line(("tracking", kind)) if written else old.line(("tracking", kind)),
            in_old=not written,
        )
