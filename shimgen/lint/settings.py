"""One rule setting in a ruleset file, read and checked with file:line.

A setting is what ``rules:`` (top level, or inside an ``overrides:`` entry)
says about one rule: a bare severity, ``on``/``true``, or
``{severity: ..., options: {...}}``. :func:`parse_setting` validates it
against the rule; :meth:`Setting.apply` applies it to the rule's current
configuration, so top-level rules and overrides share one meaning.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from shimgen.lint.model import LintRule, Severity
from shimgen.mapping.load import NULL_HINT
from shimgen.mapping.yamlpos import DataPath, Positions


@dataclass(frozen=True)
class Configured:
    """A rule as one ruleset runs it."""

    rule: LintRule
    severity: Severity
    options: Mapping[str, Any]


class RulesetError(Exception):
    def __init__(self, message: str, file: Path | None = None, line: int = 1, col: int = 1) -> None:
        super().__init__(message)
        self.message = message
        self.file = file
        self.line = line
        self.col = col

    def format(self) -> str:
        where = f"{self.file}:{self.line}:{self.col}: " if self.file else ""
        return f"{where}error[ruleset]: {self.message}"


class Source:
    """One ruleset file being read, for positioned errors."""

    def __init__(self, path: Path, positions: Positions) -> None:
        self.path = path
        self.positions = positions

    def error(self, message: str, where: DataPath, *, value: bool = False) -> RulesetError:
        pos = self.positions.value(where) if value else self.positions.key(where)
        return RulesetError(message, self.path, pos.line, pos.col)


@dataclass(frozen=True)
class Setting:
    """What a ruleset file says about one rule.

    ``severity=None`` means "on": keep the current severity, or the rule's own
    default when it is off (``on``/``true``, or ``{options: ...}`` alone).
    """

    severity: Severity | None
    options: Mapping[str, Any]

    def severity_after(self, current: Severity, rule: LintRule) -> Severity:
        if self.severity is not None:
            return self.severity
        return current if current is not Severity.OFF else rule.severity

    def apply(self, current: Configured) -> Configured:
        return Configured(
            current.rule,
            self.severity_after(current.severity, current.rule),
            {**current.options, **self.options},
        )


def parse_setting(
    f: Source, rules: Mapping[str, LintRule], rule_id: Any, setting: Any, where: DataPath
) -> Setting:
    """Read the setting of ``rule_id`` written at ``where`` (the rule id's key)."""
    if rule_id not in rules:
        close = difflib.get_close_matches(str(rule_id), list(rules), n=1)
        hint = (
            f"; did you mean `{close[0]}`?" if close else "; `shimgen lint --list-rules` lists them"
        )
        raise f.error(f"unknown rule `{rule_id}`{hint}", where)
    rule = rules[rule_id]
    if setting is True or setting == "on":  # `true`, or `on` (a string in YAML 1.2)
        return Setting(None, {})
    if not isinstance(setting, dict):
        return Setting(_severity(f, setting, where), {})
    for key in setting:
        if key not in ("severity", "options"):
            raise f.error(f"unknown key `{key}` (known: severity, options)", (*where, key))
    severity = (
        _severity(f, setting["severity"], (*where, "severity")) if "severity" in setting else None
    )
    given = setting.get("options") or {}
    if not isinstance(given, dict):
        raise f.error("`options:` is a mapping", (*where, "options"), value=True)
    options = {
        name: _option(f, rule, name, value, (*where, "options", name))
        for name, value in given.items()
    }
    return Setting(severity, options)


def _severity(f: Source, value: Any, where: DataPath) -> Severity:
    if value is False:  # `false` reads as off too (`off` itself is the string, YAML 1.2)
        return Severity.OFF
    try:
        return Severity(value)
    except ValueError:
        known = ", ".join(s.value for s in Severity)
        raise f.error(f"bad severity {value!r} (known: {known})", where, value=True) from None


def _option(f: Source, rule: LintRule, name: Any, value: Any, where: DataPath) -> Any:
    if name not in rule.options:
        known = ", ".join(rule.options) or "none"
        raise f.error(f"rule `{rule.id}` has no option `{name}` (options: {known})", where)
    default = rule.options[name]
    if isinstance(default, list) and isinstance(value, list) and None in value:
        at = (*where, value.index(None))
        raise f.error(
            f"option `{name}` of `{rule.id}`: YAML reads a bare null as no value; {NULL_HINT}",
            at,
            value=True,
        )
    if isinstance(default, bool):
        ok = isinstance(value, bool)
    elif isinstance(default, int):
        ok = isinstance(value, int) and not isinstance(value, bool) and value >= 0
    elif isinstance(default, list):
        ok = isinstance(value, list) and all(isinstance(v, str) for v in value)
    else:
        ok = isinstance(value, type(default))
    if not ok:
        kind = {bool: "true or false", int: "a whole number >= 0", list: "a list of strings"}
        expected = kind.get(type(default), type(default).__name__)
        raise f.error(f"option `{name}` of `{rule.id}` must be {expected}", where, value=True)
    if isinstance(value, str) and str(name).endswith("pattern"):
        try:
            re.compile(value)
        except re.error as exc:
            raise f.error(
                f"option `{name}` is not a regular expression: {exc}", where, value=True
            ) from None
    choices = rule.choices.get(name)
    if choices and value not in choices:
        raise f.error(
            f"option `{name}` of `{rule.id}` must be one of {', '.join(map(str, choices))}",
            where,
            value=True,
        )
    return value
