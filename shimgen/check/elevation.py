"""Elevated groups: check what the mapping says about rotational access, and plan it.

A group written as ``{description, elevated: {...}}`` is held only under a
grant that expires. The service enforces the grants; this module makes sure
what it will enforce is coherent before anything is generated: durations in
range, break-glass short, approvers who are standing groups other than the one
they approve, excludes and ``beyond`` naming declared groups. Every problem is
a finding (SG128, or SG110 for an undeclared group) at its place in the YAML.
"""

from __future__ import annotations

from shimgen.check.plan import Elevation
from shimgen.check.report import Report
from shimgen.diagnostics import Code
from shimgen.mapping.model import ElevationRule, Mapping, format_duration

__all__ = ["MAX_BREAK_GLASS", "MAX_DURATION", "MIN_DURATION", "elevations"]

MIN_DURATION = 60
MAX_DURATION = 24 * 3600  # Entra PIM's longest activation
MAX_BREAK_GLASS = 3600  # emergency access is short: an hour at most


def elevations(m: Mapping, report: Report) -> dict[str, Elevation]:
    """The elevated groups of ``m`` and their rules; problems go to ``report`` (and leave the group out)."""
    elevated = {name for name in m.groups if m.elevation(name) is not None}
    out: dict[str, Elevation] = {}
    for name in m.groups:
        rule = m.elevation(name)
        if rule is not None:
            found = _Group(m, report, name, rule, elevated).check()
            if found is not None:
                out[name] = found
    return out


class _Group:
    """One elevated group's checks; ``ok`` turns False at the first finding."""

    def __init__(
        self, m: Mapping, report: Report, name: str, rule: ElevationRule, elevated: set[str]
    ) -> None:
        self.m, self.report, self.name, self.rule, self.elevated = m, report, name, rule, elevated
        self.where = ("groups", name, "elevated")
        self.ok = True

    def error(self, code: Code, message: str, key: tuple[str | int, ...], hint: str) -> None:
        self.ok = False
        self.report.error(code, message, (*self.where, *key), hint, value=True)

    def check(self) -> Elevation | None:
        rule = self.rule
        longest = self.duration("max_duration", rule.max_duration, MIN_DURATION, MAX_DURATION)
        glass = None
        if rule.break_glass is not None:
            cap = min(MAX_BREAK_GLASS, longest or MAX_BREAK_GLASS)
            glass = self.duration("break_glass", rule.break_glass, MIN_DURATION, cap)
        for i, group in enumerate(rule.approvers):
            if self.declared(group, ("approvers", i)) and (
                group == self.name or group in self.elevated
            ):
                self.error(
                    Code.BAD_ELEVATION,
                    f"approvers of `{self.name}` must be standing groups; `{group}` is elevated",
                    ("approvers", i),
                    "name the groups whose members vouch for a request, e.g. a security or "
                    "team-lead group, never the elevated group itself",
                )
        self.unique("approvers", rule.approvers)
        for i, group in enumerate(rule.excludes):
            if self.declared(group, ("excludes", i)) and group == self.name:
                self.error(
                    Code.BAD_ELEVATION,
                    f"`{self.name}` excludes itself",
                    ("excludes", i),
                    "list the groups a holder must not act in at the same time",
                )
        self.unique("excludes", rule.excludes)
        beyond = rule.beyond
        if (
            beyond is not None
            and self.declared(beyond, ("beyond",))
            and (beyond == self.name or beyond in self.elevated)
        ):
            self.error(
                Code.BAD_ELEVATION,
                f"`beyond` of `{self.name}` must be a standing group",
                ("beyond",),
                "name the group its holders act in every day, or leave `beyond` out",
            )
        if not self.ok or longest is None:
            return None
        return Elevation(
            max_seconds=longest,
            approvals=rule.approvals,
            approvers=tuple(rule.approvers),
            max_holders=rule.max_holders,
            excludes=tuple(rule.excludes),
            break_glass_seconds=glass,
            beyond=rule.beyond,
        )

    def duration(self, key: str, total: int, low: int, high: int) -> int | None:
        if low <= total <= high:
            return total
        self.error(
            Code.BAD_ELEVATION,
            f"`{key}` of `{self.name}` is {format_duration(total)}; it must be {format_duration(low)} to {format_duration(high)}",
            (key,),
            (
                "write it as `15m`, `30m` or seconds; break-glass may not outlast 1h nor max_duration"
                if key == "break_glass"
                else "write it as `30m`, `4h` or seconds"
            ),
        )
        return None

    def declared(self, group: str, key: tuple[str | int, ...]) -> bool:
        if group in self.m.groups:
            return True
        self.error(
            Code.UNDECLARED_GROUP,
            f"group `{group}` is not declared",
            key,
            f"declare it under `groups:`, or use one of: {', '.join(self.m.groups)}",
        )
        return False

    def unique(self, key: str, groups: list[str]) -> None:
        seen: set[str] = set()
        for i, group in enumerate(groups):
            if group in seen:
                self.error(
                    Code.BAD_ELEVATION,
                    f"`{group}` is listed twice under `{key}`",
                    (key, i),
                    "list each group once",
                )
            seen.add(group)
