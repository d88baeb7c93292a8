"""The vocabulary of ``shimgen lint``: severities, rules, findings.

Lint rules are a style guide on top of ``shimgen check``: the checker decides
whether a mapping *works*, lint whether it is *the way we want mappings
written*. A rule never sees YAML directly; it reads the resolved
:class:`~shimgen.check.plan.ShimPlan` and points each hit at a YAML data path,
which the engine turns into ``line:col`` through the mapping's positions.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from shimgen.check.plan import ShimPlan
from shimgen.diagnostics import one_line
from shimgen.mapping.load import LoadedMapping
from shimgen.mapping.yamlpos import DataPath


class Severity(enum.StrEnum):
    """Spectral's five levels; ``off`` means the rule does not run at all."""

    ERROR = "error"
    WARN = "warn"
    INFO = "info"
    HINT = "hint"
    OFF = "off"

    @property
    def sarif_level(self) -> str:
        """SARIF ``level``: error -> error, warn -> warning, info and hint -> note."""
        return {"error": "error", "warn": "warning"}.get(self.value, "note")

    @property
    def order(self) -> int:
        """Lower is worse; sorts findings within one line."""
        return list(Severity).index(self)


@dataclass(frozen=True)
class Hit:
    """One violation as a rule reports it: a message and where in the YAML.

    ``value=True`` points at the value of the key at ``where`` (e.g. the
    ``treat:`` value), otherwise at the key itself.
    """

    message: str
    where: DataPath
    value: bool = False
    hint: str | None = None  # overrides the rule's fix hint for this hit


@dataclass(frozen=True)
class Context:
    """What a rule's check function may read."""

    plan: ShimPlan
    loaded: LoadedMapping
    options: Mapping[str, Any]
    base: str | None = None  # git revision given with --base, if any

    def option(self, name: str) -> Any:
        return self.options[name]


CheckFn = Callable[[Context], Iterator[Hit]]


@dataclass(frozen=True)
class LintRule:
    """A registered rule.

    ``safety`` rules guard what crosses the boundary (the ``autonomous``
    ruleset keeps them as errors); the others are style and review hygiene.
    ``options`` holds every option with its default: a ruleset may only set
    options listed here, with a value of the same JSON type.
    """

    id: str
    description: str
    severity: Severity  # the rule's own default, used when a ruleset names no severity
    hint: str
    check: CheckFn
    safety: bool = False
    options: Mapping[str, Any] = field(default_factory=dict)
    choices: Mapping[str, tuple[Any, ...]] = field(default_factory=dict)  # allowed option values
    needs_base: bool = False  # runs only when `--base REV` is given
    authoritative_only: bool = False  # off in `autonomous` (a policy a central team opts into)


@dataclass(frozen=True)
class Exemption:
    """Why a finding is accepted: the ``reason:`` of the ruleset override that turned it off."""

    reason: str
    file: Path  # the ruleset file holding the override
    line: int
    col: int

    def as_dict(self) -> dict[str, Any]:
        return {"reason": self.reason, "ruleset": str(self.file), "line": self.line}


@dataclass(frozen=True)
class LintFinding:
    """A positioned finding; ``where`` is its data path in the mapping.

    An exempted finding keeps the severity it would have had, and says which
    override exempted it.
    """

    rule: str
    severity: Severity
    message: str
    file: Path
    line: int
    col: int
    hint: str = ""
    where: DataPath = ()
    exemption: Exemption | None = None

    def format(self) -> str:
        head = f"{self.file}:{self.line}:{self.col}: {self.severity}[{self.rule}]: {self.message}"
        return one_line(head) + (f"\n  hint: {one_line(self.hint)}" if self.hint else "")

    def sort_key(self) -> tuple[str, int, int, int, str]:
        return (str(self.file), self.line, self.col, self.severity.order, self.rule)

    def as_dict(self) -> dict[str, Any]:
        return {
            "rule": self.rule,
            "severity": self.severity.value,
            "message": self.message,
            "file": str(self.file),
            "line": self.line,
            "col": self.col,
            "hint": self.hint,
            "pointer": pointer_text(self.where),
            **({"exempted": self.exemption.as_dict()} if self.exemption else {}),
        }


def pointer_text(where: DataPath) -> str:
    """``("fields", "a/b", 0)`` -> ``#/fields/a~1b/0`` (RFC 6901), as override patterns write it."""
    return "#" + "".join("/" + str(s).replace("~", "~0").replace("/", "~1") for s in where)
