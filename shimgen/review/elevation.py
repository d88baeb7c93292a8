"""What an elevation exposes: the review's answer to "what am I approving?".

For each elevated group the report lists how it is held (duration, approvals,
approvers, holders, excludes, break-glass) and exactly which fields its view
receives in a more revealing form than the standing group its holders act in
every day (``beyond``; the view of no group when the mapping names none), with
both treatments side by side, and the proxy routes the grant opens that the
``beyond`` group may not call. An approver reads this table, not the YAML.
"""

from __future__ import annotations

from dataclasses import dataclass

from shimgen.check.plan import Elevation, ShimPlan
from shimgen.mapping.model import format_duration
from shimgen.schema.model import format_path

__all__ = ["ElevatedField", "ElevationRow", "elevation_rows"]


@dataclass(frozen=True)
class ElevatedField:
    """One field the elevation reveals more of (or at all)."""

    internal: str
    classification: str  # pii, secret, ``restricted (secret)``, or ""
    ordinary: str  # the treatment in the beyond view, e.g. ``drop`` or ``round(digits=-3)``
    elevated: str  # the treatment under the grant, e.g. ``pass``
    external: str  # where it lands in the external record


@dataclass(frozen=True)
class ElevationRow:
    group: str
    beyond: str  # the standing group compared with, or "no group"
    max_duration: str  # ``4h``
    approvals: int
    approvers: tuple[str, ...]
    max_holders: str  # ``2``, or ``no cap``
    excludes: tuple[str, ...]
    break_glass: str  # ``30m``, or ``none``
    exposes: tuple[ElevatedField, ...]
    routes: tuple[str, ...] = ()  # proxy routes the grant opens that the beyond view may not call


def elevation_rows(plan: ShimPlan, no_group: str) -> tuple[ElevationRow, ...]:
    """One row per elevated group, in mapping order."""
    return tuple(_row(plan, group, e, no_group) for group, e in plan.elevated.items())


def _row(plan: ShimPlan, group: str, e: Elevation, no_group: str) -> ElevationRow:
    exposes = []
    for rule in plan.rules:
        under, ordinary = rule.treatment(group), rule.treatment(e.beyond)
        # rank: higher reveals less; a field dropped under the grant exposes nothing
        if under.emits and (not ordinary.emits or under.rank < ordinary.rank):
            exposes.append(
                ElevatedField(
                    rule.label,
                    plan.levels.shown(rule.classification),
                    str(ordinary),
                    str(under),
                    format_path(rule.external),
                )
            )
    return ElevationRow(
        group=group,
        beyond=e.beyond or no_group,
        max_duration=format_duration(e.max_seconds),
        approvals=e.approvals,
        approvers=e.approvers,
        max_holders=str(e.max_holders) if e.max_holders is not None else "no cap",
        excludes=e.excludes,
        break_glass=format_duration(e.break_glass_seconds) if e.break_glass_seconds else "none",
        exposes=tuple(exposes),
        routes=tuple(
            f"{r.method} {r.path}"
            for r in plan.routes
            if group in r.groups and (e.beyond is None or e.beyond not in r.groups)
        ),
    )
