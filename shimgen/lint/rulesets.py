"""Rulesets: which rules run, at which severity, with which options.

Two are built in. ``authoritative`` makes every rule an error (a central
security team owns the boundary); ``autonomous`` keeps the safety rules as
errors and turns the rest into warnings (teams own their own style), except the
rules only a central team applies (``authoritative_only``), which it leaves off. A
ruleset file (YAML) ``extends:`` one of them, or another file, changes
severities or options, and may exempt given mappings or locations in them,
with a reason (:mod:`.overrides`)::

    extends: autonomous
    rules:
      external-field-case: {severity: error, options: {case: snake}}
      derived-documented: off
    overrides:
      - files: ["orders.shim.yaml#/fields/order_id"]
        rules: {internal-ids-tokenized: off}
        reason: the order number is the invoice number customers quote
    levels: {confidential: pii, restricted: secret}   # see shimgen.mapping.levels

Every mistake in a ruleset file is a :class:`RulesetError` with file:line,
so a typo never silently turns a rule off.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from shimgen.lint.model import LintRule, Severity
from shimgen.lint.overrides import FileRule, Override, for_file, parse_overrides
from shimgen.lint.registry import all_rules
from shimgen.lint.settings import Configured, RulesetError, Source, parse_setting
from shimgen.mapping.levels import LevelError, parse_levels
from shimgen.mapping.yamlpos import DataPath, YamlError, load_with_positions

BUILTIN = ("authoritative", "autonomous")
DEFAULT_RULESET = "autonomous"
"""What ``shimgen lint`` applies without ``--ruleset``, and what ``generate`` counts."""
KEYS = ("extends", "rules", "overrides", "description", "levels")

__all__ = ["BUILTIN", "Configured", "Ruleset", "RulesetError", "builtin", "load_ruleset"]


@dataclass(frozen=True)
class Ruleset:
    name: str
    rules: dict[str, Configured]  # every registered rule, `off` included
    named: frozenset[str] = frozenset()  # rules this ruleset (or one it extends) sets
    overrides: tuple[Override, ...] = ()  # its parents' first, then its own

    def active(self) -> list[Configured]:
        return [c for c in self.rules.values() if c.severity is not Severity.OFF]

    def for_file(self, path: Path) -> list[FileRule]:
        """Every rule as it runs on the mapping at ``path``, overrides applied."""
        return for_file(self.rules, self.overrides, path)


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
            {i: Configured(r, _autonomous(r), dict(r.options)) for i, r in rules.items()},
            frozenset(rules),
        )
    raise RulesetError(f"unknown built-in ruleset `{name}` (known: {', '.join(BUILTIN)})")


def _autonomous(r: LintRule) -> Severity:
    if r.authoritative_only:
        return Severity.OFF
    return Severity.ERROR if r.safety else Severity.WARN


def load_ruleset(spec: str) -> Ruleset:
    """A built-in name, or a path to a ruleset file."""
    if spec in BUILTIN:
        return builtin(spec)
    return _load_file(Path(spec), ())


def _empty() -> Ruleset:
    return Ruleset(
        "", {i: Configured(r, Severity.OFF, dict(r.options)) for i, r in all_rules().items()}
    )


def _load_file(path: Path, stack: tuple[Path, ...]) -> Ruleset:
    resolved = path.resolve()
    if resolved in stack:
        chain = " -> ".join(str(p) for p in (*stack, resolved))
        raise RulesetError(f"`extends:` loops: {chain}", path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = getattr(exc, "strerror", None) or str(exc)
        builtins = f"; built-in rulesets: {', '.join(BUILTIN)}" if not stack else ""
        raise RulesetError(f"cannot read ruleset: {reason}{builtins}", path) from None
    try:
        data, positions, dups = load_with_positions(text)
    except YamlError as exc:
        raise RulesetError(
            f"invalid YAML: {exc.message}", path, exc.pos.line, exc.pos.col
        ) from None
    f = Source(path, positions)
    if dups:
        raise f.error(f"`{dups[0].path[-1]}` appears twice", dups[0].path)
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise RulesetError("a ruleset file is a YAML mapping with `extends:` and `rules:`", path)
    for key in data:
        if key not in KEYS:
            raise f.error(f"unknown key `{key}` (known: {', '.join(KEYS)})", (key,))
    try:  # the organisation's levels: mappings that `extends:` this file use them
        parse_levels(data.get("levels"), ("levels",))
    except LevelError as exc:
        raise f.error(f"{exc.message} ({exc.hint})", exc.where) from None
    ruleset = _extends(f, data.get("extends"), (*stack, resolved))
    rules = data.get("rules") or {}
    if not isinstance(rules, dict):
        raise f.error(
            "`rules:` is a mapping of rule id to severity or settings", ("rules",), value=True
        )
    table = dict(ruleset.rules)
    known = {i: c.rule for i, c in table.items()}
    for rule_id, setting in rules.items():
        table[rule_id] = parse_setting(f, known, rule_id, setting, ("rules", rule_id)).apply(
            table[rule_id]
        )
    overrides = parse_overrides(f, data.get("overrides"), known)
    return Ruleset(str(path), table, ruleset.named | set(rules), ruleset.overrides + overrides)


def _extends(f: Source, value: Any, stack: tuple[Path, ...]) -> Ruleset:
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
        ruleset = Ruleset(
            ruleset.name, merged, ruleset.named | loaded.named, ruleset.overrides + loaded.overrides
        )
    return ruleset
