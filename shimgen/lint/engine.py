"""Run a ruleset over one mapping.

Lint runs only on mappings the checker accepts: rules read the resolved plan,
and a style guide on top of a broken mapping would only add noise. The engine
turns each rule's hits into positioned findings at the ruleset's severity.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from shimgen.check import CheckResult, check_mapping
from shimgen.lint.model import Context, LintFinding
from shimgen.lint.rulesets import Ruleset


@dataclass
class LintResult:
    """One mapping's lint outcome; ``check`` holds the checker's verdict."""

    path: Path
    check: CheckResult
    findings: list[LintFinding] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)  # active rules that could not run (no --base)

    @property
    def linted(self) -> bool:
        return self.check.plan is not None

    @property
    def exit_code(self) -> int:
        if not self.linted:
            return self.check.exit_code or 1
        return 1 if any(f.severity == "error" for f in self.findings) else 0


def lint_mapping(path: Path, ruleset: Ruleset, base: str | None = None) -> LintResult:
    """Check ``path``; if it is clean, run every active rule of ``ruleset`` over it.

    Raises :class:`shimgen.lint.gitbase.BaseError` when ``base`` cannot be read.
    """
    checked = check_mapping(path)
    result = LintResult(path, checked)
    if checked.plan is None:
        return result
    loaded = checked.loaded
    for configured in ruleset.active():
        rule = configured.rule
        if rule.needs_base and base is None:
            result.skipped.append(rule.id)
            continue
        ctx = Context(checked.plan, loaded, configured.options, base)
        for hit in rule.check(ctx):
            pos = loaded.at(hit.where, value=hit.value)
            result.findings.append(
                LintFinding(
                    rule.id,
                    configured.severity,
                    hit.message,
                    path,
                    pos.line,
                    pos.col,
                    hit.hint if hit.hint is not None else rule.hint,
                )
            )
    result.findings.sort(key=LintFinding.sort_key)
    return result
