"""SARIF 2.1.0 output, so CI code-scanning tools show findings on mapping lines.

One run, tool ``shimgen``; ``tool.driver.rules`` lists every lint rule with
its severity in the ruleset used (``off`` rules as ``enabled: false``), plus
the checker codes that occur when a mapping could not be linted.
``shimgen check --format sarif`` uses the same pieces with the checker codes
only (:func:`check_to_sarif`). Locations
are relative to ``%SRCROOT%`` (the directory lint ran in, normally the repo
root), which is what GitHub code scanning expects.

Findings exempted by ruleset overrides are results too, with a
``suppressions`` entry (SARIF 2.1.0 §3.35) of kind ``external`` whose
justification is the override's reason and whose location is the override in
the ruleset file; other lint results carry ``suppressions: []`` (evaluated, not
suppressed).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from shimgen import __version__
from shimgen.check import CheckResult
from shimgen.diagnostics import Finding
from shimgen.lint.engine import LintResult
from shimgen.lint.model import LintFinding, Severity
from shimgen.lint.rulesets import Ruleset

SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"
DOCS = "docs/lint.md"


def _location(path: Path, line: int, col: int, root: Path) -> dict[str, Any]:
    try:
        artifact: dict[str, Any] = {
            "uri": path.resolve().relative_to(root.resolve()).as_posix(),
            "uriBaseId": "%SRCROOT%",
        }
    except ValueError:
        artifact = {"uri": path.resolve().as_uri()}
    return {
        "physicalLocation": {
            "artifactLocation": artifact,
            "region": {"startLine": line, "startColumn": col},
        }
    }


def _descriptor(
    rule_id: str, short: str, hint: str, severity: Severity, tag: str
) -> dict[str, Any]:
    return {
        "id": rule_id,
        "shortDescription": {"text": short},
        "fullDescription": {"text": short},
        "help": {
            "text": f"{short}\nFix: {hint}\nSee {DOCS}.",
            "markdown": f"{short}\n\n**Fix:** {hint}\n\nSee `{DOCS}`.",
        },
        "defaultConfiguration": {
            "level": "none" if severity is Severity.OFF else severity.sarif_level,
            "enabled": severity is not Severity.OFF,
        },
        "properties": {"tags": [tag], "shimgen-severity": severity.value},
    }


def _check_descriptor(finding: Finding) -> dict[str, Any]:
    return {
        "id": str(finding.code),
        "shortDescription": {"text": f"shimgen check {finding.code} ({finding.code.name})"},
        "help": {"text": "See docs/checks.md."},
        "defaultConfiguration": {"level": "error", "enabled": True},
        "properties": {"tags": ["check"]},
    }


def _suppressions(f: LintFinding, root: Path) -> list[dict[str, Any]]:
    e = f.exemption
    if e is None:
        return []
    return [
        {
            "kind": "external",
            "status": "accepted",
            "justification": e.reason,
            "location": _location(e.file, e.line, e.col, root),
        }
    ]


class _Rules:
    """``tool.driver.rules`` and each id's index in it, checker codes added on first use."""

    def __init__(self, descriptors: list[dict[str, Any]]) -> None:
        self.descriptors = descriptors
        self.index = {d["id"]: i for i, d in enumerate(descriptors)}

    def check_results(
        self, path: Path, findings: list[Finding], root: Path
    ) -> list[dict[str, Any]]:
        out = []
        for cf in findings:
            if str(cf.code) not in self.index:
                self.index[str(cf.code)] = len(self.descriptors)
                self.descriptors.append(_check_descriptor(cf))
            out.append(
                {
                    "ruleId": str(cf.code),
                    "ruleIndex": self.index[str(cf.code)],
                    "level": "error" if str(cf.severity) == "error" else "warning",
                    "message": {"text": cf.message + (f" (hint: {cf.hint})" if cf.hint else "")},
                    "locations": [_location(path, cf.line, cf.col, root)],
                }
            )
        return out


def _document(
    rules: _Rules, results: list[dict[str, Any]], root: Path, invocation: dict[str, Any]
) -> dict[str, Any]:
    return {
        "$schema": SCHEMA,
        "version": "2.1.0",
        "runs": [
            {
                "tool": {
                    "driver": {
                        "name": "shimgen",
                        "semanticVersion": __version__,
                        "rules": rules.descriptors,
                    }
                },
                "originalUriBaseIds": {"%SRCROOT%": {"uri": root.resolve().as_uri() + "/"}},
                "columnKind": "unicodeCodePoints",
                "invocations": [invocation],
                "results": results,
            }
        ],
    }


def check_to_sarif(checked: list[CheckResult], root: Path) -> dict[str, Any]:
    """``shimgen check --format sarif``: every checker finding of every mapping."""
    rules = _Rules([])
    out = [f for r in checked for f in rules.check_results(r.loaded.path, r.findings, root)]
    invocation = {"executionSuccessful": True, **_waiting(checked, root)}
    return _document(rules, out, root, invocation)


def _waiting(checked: list[CheckResult], root: Path) -> dict[str, Any]:
    """The checks shape errors kept from running, as SARIF tool notifications (notes)."""
    notes = [
        {
            "level": "note",
            "message": {"text": f"{r.waiting} run once the errors above are fixed"},
            "locations": [_location(r.loaded.path, 1, 1, root)],
        }
        for r in checked
        if r.waiting
    ]
    return {"toolExecutionNotifications": notes} if notes else {}


def to_sarif(results: list[LintResult], ruleset: Ruleset, root: Path) -> dict[str, Any]:
    rules = _Rules(
        [
            _descriptor(
                c.rule.id,
                c.rule.description,
                c.rule.hint,
                c.severity,
                "safety" if c.rule.safety else "style",
            )
            for c in ruleset.rules.values()
        ]
    )
    out: list[dict[str, Any]] = []
    for r in results:
        out.extend(rules.check_results(r.path, r.check.findings if not r.linted else [], root))
        for f in sorted([*r.findings, *r.exempted], key=LintFinding.sort_key):
            out.append(
                {
                    "ruleId": f.rule,
                    "ruleIndex": rules.index[f.rule],
                    "level": f.severity.sarif_level,
                    "message": {"text": f.message + (f" (hint: {f.hint})" if f.hint else "")},
                    "locations": [_location(f.file, f.line, f.col, root)],
                    "suppressions": _suppressions(f, root),
                    "properties": {"shimgen-severity": f.severity.value},
                }
            )
    invocation = {
        "executionSuccessful": all(r.linted for r in results),
        "properties": {"ruleset": ruleset.name},
        **_waiting([r.check for r in results], root),
    }
    return _document(rules, out, root, invocation)
