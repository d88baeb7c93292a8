"""The rule registry: every built-in rule, by id, in documentation order.

Rules register themselves with :func:`rule` when their module is imported;
:func:`all_rules` imports the rule modules once, so the registry is complete
whichever entry point (CLI, tests, docs) asks first. Ids are stable: ruleset
files, SARIF consumers and suppressions in CI cite them.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from typing import Any

from shimgen.lint.model import CheckFn, LintRule, Severity

_RULES: dict[str, LintRule] = {}
_MODULES = ("shimgen.lint.rules_safety", "shimgen.lint.rules_style", "shimgen.lint.rules_version")


def rule(
    id: str,
    *,
    description: str,
    hint: str,
    safety: bool,
    severity: Severity | None = None,
    options: Mapping[str, Any] | None = None,
    choices: Mapping[str, tuple[Any, ...]] | None = None,
    needs_base: bool = False,
    authoritative_only: bool = False,
) -> Callable[[CheckFn], CheckFn]:
    """Register the decorated check function as rule ``id``.

    A rule's own default severity is ``error`` for safety rules and ``warn``
    for the others unless ``severity`` says otherwise. An ``authoritative_only`` rule
    is off in ``autonomous``: a policy a central security team owns, not a team default.
    """

    def register(fn: CheckFn) -> CheckFn:
        if id in _RULES:
            raise ValueError(f"lint rule {id!r} registered twice")
        _RULES[id] = LintRule(
            id=id,
            description=description,
            severity=severity or (Severity.ERROR if safety else Severity.WARN),
            hint=hint,
            check=fn,
            safety=safety,
            options=dict(options or {}),
            choices=dict(choices or {}),
            needs_base=needs_base,
            authoritative_only=authoritative_only,
        )
        return fn

    return register


def all_rules() -> dict[str, LintRule]:
    """Every registered rule by id, safety rules first, then style, then version."""
    for name in _MODULES:
        importlib.import_module(name)
    return dict(_RULES)
