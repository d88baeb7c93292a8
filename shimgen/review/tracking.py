"""What each heuristic-tracking detection does, for the reviewer: the mapping's ``tracking:``.

Every kind is listed, set or not, so a report where everything is ``log`` says so:
a reviewer who reads only "deny" rows would not see that enumeration is merely logged.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import get_args

from shimgen.check.plan import ShimPlan
from shimgen.mapping.model import DEFAULT_TRACKING_EFFECT, TrackingKind

__all__ = ["TrackingRow", "tracking_rows"]

_NOTICED: dict[str, str] = {  # docs/access.md, the table of effects
    "log": "nothing: an audit event, a metric and a WARNING log line",
    "flag": "a Shim-Flag header on every response",
    "throttle": "a tenth of its rate limit and burst (429)",
    "deny": "403 (tracking-denied) on every request",
}


_WATCHES: dict[str, str] = {  # docs/access.md, "What is measured"
    "volume": "far more records than usual in a group whose view carries pii or secret fields",
    "enumeration": "many distinct ids (path parameters) on proxy routes",
    "first-use": "a route or group the caller never used before",
    "probing": "many refused requests (403, 422, ids or tokens that name nothing)",
    "mass-assignment": "inbound writes of fields the caller may not send",
    "off-hours": "requests in an hour of the week the caller never used before",
}


@dataclass(frozen=True)
class TrackingRow:
    kind: str
    effect: str
    default: bool  # not written under tracking:, so DEFAULT_TRACKING_EFFECT
    noticed: str  # what the caller notices while the detection's incident is open
    watches: str = ""  # what opens an incident of this kind, in a few words


def tracking_rows(plan: ShimPlan) -> tuple[TrackingRow, ...]:
    """One row per detection kind, in the order the mapping format lists them."""
    rows = []
    for kind in get_args(TrackingKind):
        effect = plan.tracking.get(kind, DEFAULT_TRACKING_EFFECT)
        rows.append(
            TrackingRow(
                kind, effect, kind not in plan.tracking, _NOTICED[effect], _WATCHES.get(kind, "")
            )
        )
    return tuple(rows)
