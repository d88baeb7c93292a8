"""``shimgen lint`` behind the typer command: arguments in, exit code out.

Checker errors print to stderr exactly as ``shimgen check`` prints them, and
the mapping is then not linted. Lint findings go to stdout in the chosen
format (so ``--format sarif > lint.sarif`` works); one summary line per
mapping goes to stderr (``verbose`` adds the rules that could not run). Findings exempted by ruleset overrides do not count
toward the exit code; ``show_exempted`` lists them in the text output.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from shimgen.diagnostics import one_line
from shimgen.lint.engine import LintResult, lint_mapping
from shimgen.lint.gitbase import BaseError
from shimgen.lint.output import render_json, render_rules, render_text, summary
from shimgen.lint.rulesets import DEFAULT_RULESET, RulesetError, load_ruleset
from shimgen.lint.sarif import to_sarif

FORMATS = ("text", "json", "sarif")


def _err(text: str) -> None:
    sys.stderr.write(text.rstrip("\n") + "\n")


def run(
    mappings: list[Path],
    ruleset_spec: str = DEFAULT_RULESET,
    format_: str = "text",
    base: str | None = None,
    list_rules: bool = False,
    show_exempted: bool = False,
    verbose: bool = False,
) -> int:
    """Exit 0: no error-severity finding; 1: lint or check errors; 2: unreadable input or ruleset."""
    if format_ not in FORMATS:
        _err(f"error: --format must be one of {', '.join(FORMATS)}")
        return 2
    try:
        ruleset = load_ruleset(ruleset_spec)
    except RulesetError as exc:
        _err(exc.format())
        return 2
    if list_rules:
        sys.stdout.write(render_rules(ruleset))
        return 0
    if not mappings:
        _err("error: give at least one mapping file (or --list-rules)")
        return 2
    results: list[LintResult] = []
    for path in mappings:
        try:
            result = lint_mapping(path, ruleset, base)
        except BaseError as exc:
            _err(one_line(f"error: {exc}"))
            return 2
        for line in result.check.lines():
            _err(line)
        results.append(result)
    if format_ == "json":
        sys.stdout.write(render_json(results, ruleset))
    elif format_ == "sarif":
        sys.stdout.write(json.dumps(to_sarif(results, ruleset, Path.cwd()), indent=2) + "\n")
    else:
        sys.stdout.write(render_text(results, show_exempted))
    for result in results:
        _err(summary(result, ruleset, verbose))
    return max(r.exit_code for r in results)
