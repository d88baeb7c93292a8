"""Check a mapping: load it, resolve it against its schemas, collect findings.

Every stage reports through one :class:`~shimgen.check.report.Report` (the
resolver, the routes, then the whole-mapping checks that read the built
plan), and the :class:`~shimgen.check.plan.ShimPlan` is built once, frozen,
from what the stages resolved: nothing downstream changes it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from shimgen.check import coverage
from shimgen.check.elevation import elevations
from shimgen.check.plan import ShimPlan
from shimgen.check.report import Report
from shimgen.check.resolve import Resolver
from shimgen.check.routes import check_routes
from shimgen.check.specific import expand
from shimgen.diagnostics import Finding, has_errors, one_line
from shimgen.mapping.load import LoadedMapping, load_mapping
from shimgen.mapping.model import Mapping


@dataclass(frozen=True)
class CheckResult:
    """One mapping checked: every finding, and the plan when none is an error."""

    loaded: LoadedMapping
    plan: ShimPlan | None  # None unless the mapping is free of errors
    findings: list[Finding]  # the loader's and the checks', in file order
    unreadable: bool = False  # the mapping or a schema file cannot be read

    @property
    def waiting(self) -> str:
        """Which checks did not run because of shape errors (empty: every check ran).

        With shape errors the rest of the file is checked (:mod:`shimgen.mapping.recover`),
        except what needs the parts set aside; the text output ends with this as a note.
        """
        lm = self.loaded
        if lm.mapping is not None or lm.unreadable or not lm.findings:
            return ""
        if lm.recovered is None:
            return "the checks of meaning (SG006 and up)"
        codes = sorted(lm.recovered.waiting)
        return f"the checks that need every field entry ({', '.join(codes)})" if codes else ""

    def lines(self) -> list[str]:
        """The findings as printed (compiler style), then the note of what waits, if anything."""
        out = [f.format() for f in self.findings]
        if self.waiting:
            where = one_line(str(self.loaded.path))
            out.append(f"{where}: note: {self.waiting} run once the errors above are fixed")
        return out

    @property
    def exit_code(self) -> int:
        if self.unreadable:
            return 2
        return 1 if has_errors(self.findings) else 0


def check_mapping(path: Path) -> CheckResult:
    """Run every check; the plan is returned only when there is no error."""
    lm = load_mapping(path)
    report = Report(lm)
    # with shape errors, the rest of the file is still checked (never generated)
    mapping = lm.mapping or (lm.recovered.mapping if lm.recovered is not None else None)
    plan = build_plan(mapping, report) if mapping is not None else None
    findings = sorted([*lm.findings, *report.findings], key=Finding.sort_key)
    return CheckResult(
        lm,
        None if has_errors(findings) else plan,
        findings,
        unreadable=lm.unreadable or report.unreadable,
    )


def build_plan(m: Mapping, report: Report) -> ShimPlan | None:
    """Resolve ``m`` and build its plan, once; every problem goes to ``report``.

    None when a schema cannot be loaded (nothing else can be resolved). The
    plan is built even when rules have findings (left out of it), so that the
    whole-mapping checks still run on the rest; ``check_mapping`` withholds it.
    """
    r = Resolver(report, m)
    r.classes.load_levels()
    internal = r.load_side("internal", m.internal)
    external = r.load_side("external", m.external)
    if internal is None or external is None:
        return None
    r.classes.schema_levels("internal", internal)
    r.classes.schema_levels("external", external)
    r.classes.resolve_paths(internal, r.path)
    written = [rule for key in m.fields if (rule := r.rule(key, internal, external)) is not None]
    rules, entries = expand(r, written, external)
    derived = tuple(
        d
        for name, spec in m.derived.items()
        if (d := r.derived(name, spec, internal, external)) is not None
    )
    upstream, routes = check_routes(report, m, rules, derived)
    plan = ShimPlan(
        m.shim,
        m.version,
        m.owner,
        m.description,
        report.loaded.path,
        report.loaded.sha256,
        internal,
        external,
        {name: m.group_description(name) for name in m.groups},
        rules=tuple(rules),
        entries=tuple(entries),
        levels=r.levels,
        derived=derived,
        upstream=upstream,
        routes=routes,
        elevated=elevations(m, report),
        tracking={str(kind): str(effect) for kind, effect in m.tracking.items()},
        reclassified=tuple(r.classes.reclassified()),
    )
    coverage.coverage(internal.root, r.mapped, report)
    coverage.targets(plan, report)
    coverage.required(plan, report)
    return plan
