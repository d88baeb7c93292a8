"""Check a mapping: load it, resolve it against its schemas, collect findings."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from shimgen.check import coverage
from shimgen.check.plan import ShimPlan
from shimgen.check.resolve import Resolver
from shimgen.check.routes import check_routes
from shimgen.check.specific import expand
from shimgen.diagnostics import Finding, has_errors
from shimgen.mapping.load import LoadedMapping, load_mapping


@dataclass
class CheckResult:
    loaded: LoadedMapping
    plan: ShimPlan | None  # None unless the mapping is free of errors

    @property
    def findings(self) -> list[Finding]:
        return sorted(self.loaded.findings, key=Finding.sort_key)

    @property
    def exit_code(self) -> int:
        if self.loaded.unreadable:
            return 2
        return 1 if has_errors(self.loaded.findings) else 0


def check_mapping(path: Path) -> CheckResult:
    """Run every check; the plan is returned only when there is no error."""
    lm = load_mapping(path)
    m = lm.mapping
    if m is None:
        return CheckResult(lm, None)
    r = Resolver(lm, m)
    r.classes.load_levels()
    internal = r.load_side("internal", m.internal)
    external = r.load_side("external", m.external)
    if internal is None or external is None:
        lm.findings.extend(r.findings)
        return CheckResult(lm, None)
    plan = ShimPlan(
        m.shim,
        m.version,
        m.owner,
        m.description,
        path,
        lm.sha256,
        internal,
        external,
        dict(m.groups),
        levels=r.levels,
    )
    r.classes.schema_levels("internal", internal)
    r.classes.schema_levels("external", external)
    r.classes.resolve_paths(internal, r.path)
    written = [rule for key in m.fields if (rule := r.rule(key, internal, external)) is not None]
    plan.rules, plan.entries = expand(r, written, external)
    for name, spec in m.derived.items():
        derived = r.derived(name, spec, internal, external)
        if derived is not None:
            plan.derived.append(derived)
    lm.findings.extend(r.findings)
    coverage.apply(lm, coverage.coverage(internal.root, r.mapped))
    coverage.apply(lm, coverage.targets(plan))
    coverage.apply(lm, coverage.required(plan))
    check_routes(lm, m, plan)
    return CheckResult(lm, None if has_errors(lm.findings) else plan)
