"""Rulesets: which rules run, at which severity, with which options.

Two are built in. ``authoritative`` makes every rule an error (a central
security team owns the boundary); ``autonomous`` keeps the safety rules as
errors and turns the rest into warnings (teams own their own style). A
ruleset file (YAML) ``extends:`` one of them, or another file, and changes
severities or options::

    extends: autonomous
    rules:
      external-field-case: {severity: error, options: {case: snake}}
      derived-documented: off

Every mistake in a ruleset file is a :class:`RulesetError` with file:line,
so a typo never silently turns a rule off.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from shimgen.lint.model import LintRule, Severity
from shimgen.lint.registry import all_rules
from shimgen.mapping.yamlpos import DataPath, Positions, YamlError, load_with_positions

BUILTIN = ("authoritative", "autonomous")


@dataclass(frozen=True)
class Configured:
    """A rule as one ruleset runs it."""

    rule: LintRule
    severity: Severity
    options: Mapping[str, Any]


@dataclass(frozen=True)
class Ruleset:
    name: str
    rules: dict[str, Configured]  # every registered rule, `off` included
    named: frozenset[str] = frozenset()  # rules this ruleset (or one it extends) sets

    def active(self) -> list[Configured]:
        return [c for c in self.rules.values() if c.severity is not Severity.OFF]


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


def builtin(name: str) -> Ruleset:
    """``authoritative``: every rule an error; ``autonomous``: safety rules errors, others warnings."""
    rules = all_rules()
    if name == "authoritative":
        return Ruleset(
            name,
            {i: Configured(r, Severity.ERROR, dict(r.options)) for i, r in rules.items()},
            frozenset(rules),
        )
    if name == "autonomous":
        return Ruleset(
            name,
            {
                i: Configured(r, Severity.ERROR if r.safety else Severity.WARN, dict(r.options))
                for i, r in rules.items()
            },
            frozenset(rules),
        )
    raise RulesetError(f"unknown built-in ruleset `{name}` (known: {', '.join(BUILTIN)})")


def load_ruleset(spec: str) -> Ruleset:
    """A built-in name, or a path to a ruleset file."""
    if spec in BUILTIN:
        return builtin(spec)
    return _load_file(Path(spec), ())


def _empty() -> Ruleset:
    return Ruleset(
        "", {i: Configured(r, Severity.OFF, dict(r.options)) for i, r in all_rules().items()}
    )


class _File:
    """One ruleset file being read, for positioned errors."""

    def __init__(self, path: Path, positions: Positions) -> None:
        self.path = path
        self.positions = positions

    def error(self, message: str, where: DataPath, *, value: bool = False) -> RulesetError:
        pos = self.positions.value(where) if value else self.positions.key(where)
        return RulesetError(message, self.path, pos.line, pos.col)


def _load_file(path: Path, stack: tuple[Path, ...]) -> Ruleset:
    resolved = path.resolve()
    if resolved in stack:
        chain = " -> ".join(str(p) for p in (*stack, resolved))
        raise RulesetError(f"`extends:` loops: {chain}", path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = getattr(exc, "strerror", None) or str(exc)
        raise RulesetError(f"cannot read ruleset: {reason}", path) from None
    try:
        data, positions, dups = load_with_positions(text)
    except YamlError as exc:
        raise RulesetError(
            f"invalid YAML: {exc.message}", path, exc.pos.line, exc.pos.col
        ) from None
    f = _File(path, positions)
    if dups:
        raise f.error(f"`{dups[0].path[-1]}` appears twice", dups[0].path)
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise RulesetError("a ruleset file is a YAML mapping with `extends:` and `rules:`", path)
    for key in data:
        if key not in ("extends", "rules", "description"):
            raise f.error(f"unknown key `{key}` (known: extends, rules, description)", (key,))
    ruleset = _extends(f, data.get("extends"), (*stack, resolved))
    rules = data.get("rules") or {}
    if not isinstance(rules, dict):
        raise f.error(
            "`rules:` is a mapping of rule id to severity or settings", ("rules",), value=True
        )
    table = dict(ruleset.rules)
    for rule_id, setting in rules.items():
        table[rule_id] = _setting(f, table, rule_id, setting)
    return Ruleset(str(path), table, ruleset.named | set(rules))


def _extends(f: _File, value: Any, stack: tuple[Path, ...]) -> Ruleset:
    if value is None:
        return _empty()
    parents = value if isinstance(value, list) else [value]
    ruleset = _empty()
    for i, parent in enumerate(parents):
        where: DataPath = ("extends", i) if isinstance(value, list) else ("extends",)
        if not isinstance(parent, str) or not parent:
            raise f.error(
                "`extends:` is `authoritative`, `autonomous` or a ruleset file path",
                where,
                value=True,
            )
        if parent in BUILTIN:
            loaded = builtin(parent)
        else:
            target = f.path.parent / parent
            if not target.is_file():
                raise f.error(
                    f"`extends: {parent}`: no such built-in ruleset ({', '.join(BUILTIN)}) or file {target}",
                    where,
                    value=True,
                )
            loaded = _load_file(target, stack)
        # a later parent wins, but only for the rules it (or its own parents) set
        merged = {**ruleset.rules, **{i: loaded.rules[i] for i in loaded.named}}
        ruleset = Ruleset(ruleset.name, merged, ruleset.named | loaded.named)
    return ruleset


def _severity(f: _File, value: Any, where: DataPath) -> Severity:
    if value is False:  # YAML 1.1 reads a bare `off` (or `no`) as false
        return Severity.OFF
    try:
        return Severity(value)
    except ValueError:
        known = ", ".join(s.value for s in Severity)
        raise f.error(f"bad severity {value!r} (known: {known})", where, value=True) from None


def _setting(f: _File, table: dict[str, Configured], rule_id: Any, setting: Any) -> Configured:
    where: DataPath = ("rules", rule_id)
    if rule_id not in table:
        close = difflib.get_close_matches(str(rule_id), list(table), n=1)
        hint = (
            f"; did you mean `{close[0]}`?" if close else "; `shimgen lint --list-rules` lists them"
        )
        raise f.error(f"unknown rule `{rule_id}`{hint}", where)
    current = table[rule_id]
    if setting is True:  # `on` / `true`: keep the inherited severity, or the rule's own default
        on = current.severity if current.severity is not Severity.OFF else current.rule.severity
        return replace(current, severity=on)
    if not isinstance(setting, dict):
        return replace(current, severity=_severity(f, setting, where))
    for key in setting:
        if key not in ("severity", "options"):
            raise f.error(f"unknown key `{key}` (known: severity, options)", (*where, key))
    if "severity" in setting:
        severity = _severity(f, setting["severity"], (*where, "severity"))
    elif current.severity is Severity.OFF:
        severity = current.rule.severity  # naming a rule turns it on at its own default
    else:
        severity = current.severity
    options = dict(current.options)
    given = setting.get("options") or {}
    if not isinstance(given, dict):
        raise f.error("`options:` is a mapping", (*where, "options"), value=True)
    for name, value in given.items():
        options[name] = _option(f, current.rule, name, value, (*where, "options", name))
    return Configured(current.rule, severity, options)


def _option(f: _File, rule: LintRule, name: Any, value: Any, where: DataPath) -> Any:
    if name not in rule.options:
        known = ", ".join(rule.options) or "none"
        raise f.error(f"rule `{rule.id}` has no option `{name}` (options: {known})", where)
    default = rule.options[name]
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
