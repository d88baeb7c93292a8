"""Run a ruleset over one mapping.

Lint runs only on mappings the checker accepts: rules read the resolved plan,
and a style guide on top of a broken mapping would only add noise. The engine
turns each rule's hits into positioned findings at the ruleset's severity,
as the ruleset's overrides set it at the hit's location. A hit an override
turned off goes to ``exempted`` with the override's reason.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from shimgen.check import CheckResult, check_mapping
from shimgen.lint.model import Context, LintFinding, Severity
from shimgen.lint.rulesets import Ruleset


@dataclass
class LintResult:
    """One mapping's lint outcome; ``check`` holds the checker's verdict."""

    path: Path
    check: CheckResult
    findings: list[LintFinding] = field(default_factory=list)
    exempted: list[LintFinding] = field(default_factory=list)  # turned off by an override
    skipped: list[str] = field(default_factory=list)  # active rules that could not run (no --base)

    @property
    def linted(self) -> bool:
        return self.check.plan is not None

    @property
    def exit_code(self) -> int:
        if not self.linted:
            return self.check.exit_code or 1
        return 1 if any(f.severity == "error" for f in self.findings) else 0


def lint_mapping(
    path: Path, ruleset: Ruleset, base: str | None = None, checked: CheckResult | None = None
) -> LintResult:
    """Check ``path`` (unless ``checked`` is its check result already); if it is clean,
    run every rule ``ruleset`` turns on for it.

    Findings an override turned off go to ``exempted``, with the override's reason.

    Raises :class:`shimgen.lint.gitbase.BaseError` when ``base`` cannot be read.
    """
    checked = checked or check_mapping(path)
    result = LintResult(path, checked)
    if checked.plan is None:
        return result
    loaded = checked.loaded
    for file_rule in ruleset.for_file(path):
        rule = file_rule.rule
        if not file_rule.runs:
            continue
        if rule.needs_base and base is None:
            result.skipped.append(rule.id)
            continue
        ctx = Context(checked.plan, loaded, file_rule.options, base)
        for hit in rule.check(ctx):
            verdict = file_rule.at(hit.where)
            if verdict.severity is Severity.OFF and verdict.exemption is None:
                continue  # an override turned the rule on elsewhere only
            pos = loaded.at(hit.where, value=hit.value)
            finding = LintFinding(
                rule.id,
                verdict.before if verdict.exemption else verdict.severity,
                hit.message,
                path,
                pos.line,
                pos.col,
                hit.hint if hit.hint is not None else rule.hint,
                hit.where,
                verdict.exemption,
            )
            (result.exempted if verdict.exemption else result.findings).append(finding)
    result.findings.sort(key=LintFinding.sort_key)
    result.exempted.sort(key=LintFinding.sort_key)
    return result
