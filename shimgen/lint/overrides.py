"""Overrides: per-file and per-location rule settings, each with a reason.

A ruleset file may carry Spectral-style ``overrides:``::

    overrides:
      - files: ["hr.shim.yaml#/fields/salary.amount"]
        rules: {secret-strict-treatment: off}
        reason: payroll pays salaries; it receives them rounded to thousands

``files:`` are globs relative to the ruleset file's directory, matched against
the mapping's path, each optionally followed by ``#/<JSON pointer>`` into the
mapping: then the override only applies to findings located at that entry or
inside it. ``reason:`` is required, because security reviewers read these
files. A finding that an override turns ``off`` is *exempted*: it is still
reported (apart, with the reason), never silently lost.

:func:`for_file` folds the ruleset's rules and the overrides matching one
mapping into a :class:`FileRule` per rule; :meth:`FileRule.at` gives the
severity at one location, and which override (if any) exempted it.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import unquote

from shimgen.lint.model import Exemption, LintRule, Severity
from shimgen.lint.settings import Configured, Setting, Source, parse_setting
from shimgen.mapping.yamlpos import DataPath

Pointer = tuple[str, ...]
KEYS = ("files", "rules", "reason")


@dataclass(frozen=True)
class Pattern:
    """One ``files:`` entry: a glob, and optionally a location inside the mapping."""

    text: str
    regex: re.Pattern[str]
    base: Path  # the ruleset file's directory; the glob is relative to it
    pointer: Pointer | None

    def matches_file(self, path: Path) -> bool:
        try:
            rel = os.path.relpath(path.resolve(), self.base.resolve())
        except ValueError:  # another drive
            return False
        return self.regex.fullmatch(Path(rel).as_posix()) is not None


@dataclass(frozen=True)
class Override:
    exemption: Exemption  # reason, and where the override is written
    patterns: tuple[Pattern, ...]
    settings: Mapping[str, Setting]


def covers(pointer: Pointer | None, where: DataPath) -> bool:
    """Is a finding at ``where`` at (or inside) ``pointer`` (None: anywhere)?"""
    if pointer is None:
        return True
    return len(where) >= len(pointer) and all(
        str(w) == p for w, p in zip(where, pointer, strict=False)
    )


# -- reading -----------------------------------------------------------------------


def parse_overrides(f: Source, value: Any, rules: Mapping[str, LintRule]) -> tuple[Override, ...]:
    if value is None:
        return ()
    if not isinstance(value, list):
        raise f.error(
            "`overrides:` is a list of entries with `files:`, `rules:` and `reason:`",
            ("overrides",),
            value=True,
        )
    return tuple(_override(f, entry, ("overrides", i), rules) for i, entry in enumerate(value))


def _override(f: Source, entry: Any, where: DataPath, rules: Mapping[str, LintRule]) -> Override:
    if not isinstance(entry, dict):
        raise f.error(
            "an override is a mapping with `files:`, `rules:` and `reason:`", where, value=True
        )
    for key in entry:
        if key not in KEYS:
            raise f.error(
                f"unknown key `{key}` in override (known: {', '.join(KEYS)})", (*where, key)
            )
    for key in KEYS:
        if key not in entry:
            why = (
                " (every exemption says why; security reviewers read it)" if key == "reason" else ""
            )
            raise f.error(f"override without `{key}:`{why}", where, value=True)
    reason = entry["reason"]
    if not isinstance(reason, str) or not reason.strip():
        raise f.error(
            "`reason:` must say, in words, why these findings are accepted",
            (*where, "reason"),
            value=True,
        )
    files = entry["files"]
    if not isinstance(files, list) or not files:
        raise f.error(
            "`files:` is a non-empty list of patterns (GLOB or GLOB#/POINTER)",
            (*where, "files"),
            value=True,
        )
    patterns = tuple(_pattern(f, p, (*where, "files", j)) for j, p in enumerate(files))
    given = entry["rules"]
    if not isinstance(given, dict) or not given:
        raise f.error(
            "`rules:` is a non-empty mapping of rule id to severity or settings",
            (*where, "rules"),
            value=True,
        )
    located = any(p.pointer is not None for p in patterns)
    settings: dict[str, Setting] = {}
    for rule_id, setting in given.items():
        at: DataPath = (*where, "rules", rule_id)
        parsed = parse_setting(f, rules, rule_id, setting, at)
        if parsed.options and located:
            raise f.error(
                "options apply to whole mappings: an override with a `#/...` location "
                "may only set severities",
                (*at, "options"),
            )
        settings[str(rule_id)] = parsed
    pos = f.positions.value(where)
    return Override(Exemption(reason.strip(), f.path, pos.line, pos.col), patterns, settings)


def _pattern(f: Source, text: Any, where: DataPath) -> Pattern:
    if not isinstance(text, str) or not text.strip():
        raise f.error("a pattern is a string: GLOB or GLOB#/POINTER", where, value=True)
    glob, hash_, fragment = text.partition("#")
    try:
        regex = re.compile(glob_regex(glob))
        pointer = parse_pointer(fragment) if hash_ else None
    except (ValueError, re.error) as exc:
        raise f.error(f"bad pattern `{text}`: {exc}", where, value=True) from None
    return Pattern(text, regex, f.path.parent, pointer)


def parse_pointer(fragment: str) -> Pointer:
    """The part after ``#``: an RFC 6901 pointer, percent-decoded as a URI fragment."""
    if not fragment:
        raise ValueError(
            "`#` without a location; write FILE for the whole file or FILE#/fields/KEY"
        )
    text = unquote(fragment)
    if not text.startswith("/"):
        raise ValueError("a location starts with `/`, e.g. `#/fields/KEY`")
    out = []
    for seg in text[1:].split("/"):
        if not seg:
            raise ValueError("empty step in the location")
        if re.search(r"~(?![01])", seg):
            raise ValueError(f"`~` in `{seg}` must be written `~0` (and `/` as `~1`)")
        out.append(seg.replace("~1", "/").replace("~0", "~"))
    return tuple(out)


def glob_regex(glob: str) -> str:
    """A path glob as a regex: ``*`` and ``?`` stay within one directory, ``**`` spans any."""
    if not glob:
        raise ValueError("no file glob before `#` (use `*.shim.yaml#/...` for every mapping)")
    if glob.startswith("/"):
        raise ValueError("globs are relative to the ruleset file's directory")
    parts = [p for p in glob.split("/") if p != "."]
    out = []
    for i, part in enumerate(parts):
        last = i == len(parts) - 1
        if part == "**":
            out.append(".*" if last else "(?:[^/]+/)*")
        elif "**" in part:
            raise ValueError("`**` must be a whole path step, e.g. `teams/**/x.shim.yaml`")
        elif not part:
            raise ValueError("empty path step (`//`, or a trailing `/`)")
        else:
            out.append(_segment(part) + ("" if last else "/"))
    return "".join(out)


def _segment(part: str) -> str:
    out, i = [], 0
    while i < len(part):
        ch = part[i]
        if ch == "*":
            out.append("[^/]*")
        elif ch == "?":
            out.append("[^/]")
        elif ch in "{}":
            raise ValueError("`{a,b}` alternatives are not supported; list each pattern")
        elif ch == "[":
            end = part.find("]", i + 2 if part[i + 1 : i + 2] in ("!", "^") else i + 1)
            if end < 0:
                raise ValueError("`[` without a closing `]`")
            body = part[i + 1 : end]
            negate = body[:1] in ("!", "^")
            body = body[1:] if negate else body
            if not body:
                raise ValueError("empty `[]` character class")
            out.append("[" + ("^/" if negate else "") + body.replace("\\", "\\\\") + "]")
            i = end
        else:
            out.append(re.escape(ch))
        i += 1
    return "".join(out)


# -- applying ----------------------------------------------------------------------


@dataclass(frozen=True)
class Step:
    """One override that matches the mapping, as it applies to one rule."""

    override: Override
    pointers: tuple[Pointer | None, ...]  # of its patterns that match the file
    setting: Setting

    def covers(self, where: DataPath) -> bool:
        return any(covers(p, where) for p in self.pointers)


@dataclass(frozen=True)
class Verdict:
    severity: Severity  # OFF: not reported
    exemption: Exemption | None = None  # an override turned off a finding that was on
    before: Severity = Severity.OFF  # the severity it had before that override


@dataclass(frozen=True)
class FileRule:
    """A rule as it runs on one mapping: options settled, severity per location."""

    rule: LintRule
    severity: Severity  # the ruleset's, before any override
    options: Mapping[str, Any]
    steps: tuple[Step, ...] = ()

    @property
    def runs(self) -> bool:
        """Could any location get a severity other than off?"""
        return self.severity is not Severity.OFF or any(
            s.setting.severity is not Severity.OFF for s in self.steps
        )

    def at(self, where: DataPath) -> Verdict:
        severity, exemption, before = self.severity, None, Severity.OFF
        for step in self.steps:
            if not step.covers(where):
                continue
            new = step.setting.severity_after(severity, self.rule)
            if new is Severity.OFF and severity is not Severity.OFF:
                exemption, before = step.override.exemption, severity
            elif new is not Severity.OFF:
                exemption = None
            severity = new
        return Verdict(severity, exemption, before)


def for_file(
    rules: Mapping[str, Configured], overrides: Sequence[Override], path: Path
) -> list[FileRule]:
    """Every rule as it runs on ``path``: later overrides win over earlier ones."""
    matching = []
    for o in overrides:
        pointers = tuple(p.pointer for p in o.patterns if p.matches_file(path))
        if pointers:
            matching.append((o, pointers))
    out = []
    for rule_id, configured in rules.items():
        options = dict(configured.options)
        steps = []
        for o, pointers in matching:
            setting = o.settings.get(rule_id)
            if setting is not None:
                steps.append(Step(o, pointers, setting))
                options.update(setting.options)  # only whole-file overrides carry options
        out.append(FileRule(configured.rule, configured.severity, options, tuple(steps)))
    return out
