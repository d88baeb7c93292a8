"""Text and JSON output of lint results.

Text is compiler style, one finding per line plus a ``hint:`` line, the same
shape as ``shimgen check`` so editors and terminals link it to the mapping.
JSON carries the same data for scripts; SARIF (for code scanning) is in
:mod:`shimgen.lint.sarif`. Findings exempted by ruleset overrides are never
silently dropped: text counts them on its last line (and lists them, with
their reasons, with ``--show-exempted``), JSON lists them apart.
"""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

from shimgen.check import CheckResult
from shimgen.diagnostics import Finding, one_line
from shimgen.lint.engine import LintResult
from shimgen.lint.model import LintFinding, Severity
from shimgen.lint.rulesets import Ruleset

_LABELS = {
    Severity.ERROR: "error",
    Severity.WARN: "warning",
    Severity.INFO: "info note",
    Severity.HINT: "hint",
}


def summary(result: LintResult, ruleset: Ruleset, verbose: bool = False) -> str:
    """One line per mapping, for stderr: counts by severity; with ``verbose``, the rules
    that did not run (without ``--base``, every run would end with the same note)."""
    if not result.linted:
        return f"{result.path}: not linted, `shimgen check` reports errors"
    counts = Counter(f.severity for f in result.findings)
    parts = [
        f"{counts[s]} {_LABELS[s]}{'s' if counts[s] > 1 else ''}"
        for s in Severity
        if s is not Severity.OFF and counts[s]
    ]
    text = f"{result.path}: {', '.join(parts) or 'clean'}"
    if result.exempted:
        text += f", {len(result.exempted)} exempted"
    text += f" (ruleset {ruleset.name})"
    if result.skipped and verbose:
        text += f"; not run without --base: {', '.join(result.skipped)}"
    return text


def generate_note(result: LintResult, ruleset: Ruleset, spec: str | None = None) -> str:
    """The line ``shimgen generate`` prints: what the style guide thinks, never fatal.

    ``check`` accepts what is valid; lint is the policy on top (e.g. a secret
    masked where a safety rule wants it dropped). Generating does not fail on
    it, but it names the count and the command, so nobody meets lint by surprise.
    ``spec`` is the ``--ruleset`` generate was given (None: the default ruleset);
    the count and the ``details:`` command are under that ruleset.
    """
    errors = sum(f.severity is Severity.ERROR for f in result.findings)
    warnings = sum(f.severity is Severity.WARN for f in result.findings)
    counts = f"{errors} error{'s' if errors != 1 else ''}"
    if warnings:
        counts += f", {warnings} warning{'s' if warnings != 1 else ''}"
    if result.exempted:
        counts += f", {len(result.exempted)} exempted"
    if spec is None:
        return (
            f"lint: {counts} under the default ruleset ({ruleset.name}); "
            f"details: shimgen lint {result.path}"
        )
    return (
        f"lint: {counts} under the ruleset {spec}; "
        f"details: shimgen lint --ruleset {spec} {result.path}"
    )


def render_text(results: list[LintResult], show_exempted: bool = False) -> str:
    lines = [f.format() for r in results for f in r.findings]
    exempted = [f for r in results for f in r.exempted]
    if exempted:
        if show_exempted:
            lines.extend(_exempted_text(f) for f in exempted)
        files = ", ".join(dict.fromkeys(str(f.exemption.file) for f in exempted if f.exemption))
        n = len(exempted)
        lines.append(
            f"{n} finding{'s' if n != 1 else ''} exempted by overrides in {files}"
            + ("" if show_exempted else " (use --show-exempted)")
        )
    return "\n".join(lines) + ("\n" if lines else "")


def _exempted_text(f: LintFinding) -> str:
    head = one_line(f"{f.file}:{f.line}:{f.col}: exempted {f.severity}[{f.rule}]: {f.message}")
    if f.exemption is None:  # pragma: no cover - exempted findings always carry one
        return head
    e = f.exemption
    return f"{head}\n  reason: {one_line(f'{e.reason} ({e.file}:{e.line})')}"


def override_table(ruleset: Ruleset) -> list[dict[str, Any]]:
    return [
        {
            "ruleset": str(o.exemption.file),
            "line": o.exemption.line,
            "files": [p.text for p in o.patterns],
            "rules": {
                rule_id: {
                    "severity": s.severity.value if s.severity is not None else "on",
                    "options": dict(s.options),
                }
                for rule_id, s in o.settings.items()
            },
            "reason": o.exemption.reason,
        }
        for o in ruleset.overrides
    ]


def rule_table(ruleset: Ruleset) -> list[dict[str, Any]]:
    return [
        {
            "id": c.rule.id,
            "severity": c.severity.value,
            "safety": c.rule.safety,
            "description": c.rule.description,
            "hint": c.rule.hint,
            "options": dict(c.options),
            "needs_base": c.rule.needs_base,
        }
        for c in ruleset.rules.values()
    ]


def check_finding(f: Finding) -> dict[str, Any]:
    """A checker finding as JSON (lint's ``check_findings``, ``shimgen check --format json``)."""
    return {
        "code": str(f.code),
        "severity": str(f.severity),
        "message": f.message,
        "line": f.line,
        "col": f.col,
        "hint": f.hint,
    }


def render_check_json(checked: list[CheckResult]) -> str:
    """``shimgen check --format json``: per file, its exit code, findings and what waits."""
    doc = {
        "files": [
            {
                "file": str(r.loaded.path),
                "exit_code": r.exit_code,
                "findings": [check_finding(f) for f in r.findings],
                "waiting": r.waiting,  # checks not run because of shape errors ("" if none)
            }
            for r in checked
        ]
    }
    return json.dumps(doc, indent=2) + "\n"


def render_json(results: list[LintResult], ruleset: Ruleset) -> str:
    doc = {
        "ruleset": ruleset.name,
        "rules": rule_table(ruleset),
        "overrides": override_table(ruleset),
        "files": [
            {
                "file": str(r.path),
                "linted": r.linted,
                "exit_code": r.exit_code,
                "check_findings": [check_finding(f) for f in r.check.findings],
                "check_waiting": r.check.waiting,
                "findings": [f.as_dict() for f in r.findings],
                "exempted": [f.as_dict() for f in r.exempted],
                "skipped": r.skipped,
            }
            for r in results
        ],
    }
    return json.dumps(doc, indent=2) + "\n"


def render_rules(ruleset: Ruleset) -> str:
    """``--list-rules``: id, severity in this ruleset, safety/style, description."""
    width = max(len(i) for i in ruleset.rules)
    lines = [
        f"{c.rule.id:<{width}}  {c.severity.value:<5}  {'safety' if c.rule.safety else 'style ':<6}  {c.rule.description}"
        for c in ruleset.rules.values()
    ]
    return "\n".join(lines) + "\n"
