"""Classification levels: the four built in, and an organisation's own, declared.

A field's level decides whether it needs a treatment and a ``why:`` to leave
(pii and secret do). Organisations name their levels differently
(``confidential``, ``restricted``), so a mapping, or the lint ruleset file it
``extends:``, declares each of its own levels and the built-in level it
counts as::

    levels: {confidential: pii, restricted: secret}

A level is never guessed: a word that is neither built in nor declared, in
the mapping's ``classification:`` or in a schema's ``x-classification``, is
an error that lists the known levels. Every decision (check, lint, review,
diff) asks :class:`Levels` what a level counts as, so a declared level
behaves exactly like its target everywhere.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from shimgen.mapping.yamlpos import DataPath, YamlError, load_with_positions

BUILTIN_LEVELS = ("public", "internal", "pii", "secret")
"""The built-in levels, least sensitive first."""

SENSITIVE = frozenset({"pii", "secret"})
"""Built-in levels whose values need a treatment and a justification to leave."""

RULESET_BUILTINS = ("authoritative", "autonomous")
"""Ruleset names that are not files (they declare no levels)."""


@dataclass(frozen=True)
class Levels:
    """The levels one mapping knows: built-in ones plus its declared ones."""

    declared: Mapping[str, str] = field(default_factory=dict)  # own level -> built-in level

    def known(self) -> tuple[str, ...]:
        return (*BUILTIN_LEVELS, *sorted(self.declared))

    def is_known(self, level: str) -> bool:
        return level in BUILTIN_LEVELS or level in self.declared

    def counts_as(self, level: str | None) -> str | None:
        """The built-in level ``level`` counts as (itself when built in); None when unclassified."""
        if level is None:
            return None
        return self.declared.get(level, level)

    def sensitive(self, level: str | None) -> bool:
        return self.counts_as(level) in SENSITIVE

    def shown(self, level: str | None) -> str:
        """``confidential (pii)`` for a declared level, the level itself when built in."""
        if level is None:
            return ""
        target = self.declared.get(level)
        return f"{level} ({target})" if target else level

    def known_text(self) -> str:
        own = ", ".join(f"{k} (counts as {v})" for k, v in sorted(self.declared.items()))
        return ", ".join(BUILTIN_LEVELS) + (f"; declared: {own}" if own else "")


BUILTIN = Levels()


class LevelError(Exception):
    """A bad ``levels:`` declaration, at ``where`` in ``file`` (None: the mapping itself)."""

    def __init__(self, message: str, where: DataPath, hint: str, file: Path | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.where = where
        self.hint = hint
        self.file = file
        self.line = 1
        self.col = 1


def parse_levels(value: Any, where: DataPath) -> dict[str, str]:
    """Validate a ``levels:`` value: ``{own-level: built-in level}``."""
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise LevelError(
            "`levels:` maps each of your levels to the built-in level it counts as",
            where,
            "write `levels: {confidential: pii, restricted: secret}`",
        )
    out: dict[str, str] = {}
    for name, target in value.items():
        at = (*where, name)
        if not isinstance(name, str) or not name.strip():
            raise LevelError("a level name is a non-empty word", at, "e.g. `confidential`")
        if name in BUILTIN_LEVELS:
            raise LevelError(
                f"`{name}` is a built-in level and cannot be redeclared",
                at,
                f"built-in levels: {', '.join(BUILTIN_LEVELS)}; remove this line",
            )
        if target not in BUILTIN_LEVELS:
            raise LevelError(
                f"level `{name}` counts as {target!r}, which is not a built-in level",
                at,
                f"make it count as one of: {', '.join(BUILTIN_LEVELS)}",
            )
        out[name] = target
    return out


def ruleset_levels(path: Path, stack: tuple[Path, ...] = ()) -> dict[str, str]:
    """The levels a ruleset file declares, its ``extends:`` chain first (a later file wins).

    Raises :class:`LevelError` (with ``file``, ``line`` and ``col`` set) on a
    file that cannot be read or a bad declaration in it.
    """
    resolved = path.resolve()
    if resolved in stack:
        raise _in_file(path, (), "`extends:` loops back to this ruleset", "break the loop")
    try:
        data, positions, _ = load_with_positions(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        reason = getattr(exc, "strerror", None) or str(exc)
        raise _in_file(path, (), f"cannot read ruleset: {reason}", "check the path") from None
    except YamlError as exc:
        err = _in_file(path, (), f"invalid YAML: {exc.message}", "fix the ruleset file")
        err.line, err.col = exc.pos.line, exc.pos.col
        raise err from None
    if not isinstance(data, dict):
        return {}
    out: dict[str, str] = {}
    parents = data.get("extends")
    for parent in parents if isinstance(parents, list) else [parents]:
        if isinstance(parent, str) and parent and parent not in RULESET_BUILTINS:
            out.update(ruleset_levels(path.parent / parent, (*stack, resolved)))
    try:
        out.update(parse_levels(data.get("levels"), ("levels",)))
    except LevelError as exc:
        exc.file = path
        pos = positions.key(exc.where)
        exc.line, exc.col = pos.line, pos.col
        raise
    return out


def _in_file(path: Path, where: DataPath, message: str, hint: str) -> LevelError:
    return LevelError(message, where, hint, file=path)
