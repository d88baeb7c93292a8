"""Findings: what the checker and loaders report, compiler style.

Every finding carries a file position, a stable code and a one-line fix hint,
and prints as ``FILE:LINE:COL: error[CODE]: message``. Stages collect findings
instead of raising, so one run shows every problem at once.
"""

from __future__ import annotations

import difflib
import enum
from dataclasses import dataclass
from pathlib import Path


class Severity(enum.StrEnum):
    ERROR = "error"
    WARNING = "warning"


class Code(enum.StrEnum):
    """Stable finding codes. Never renumber: CI configs and docs cite them."""

    YAML_SYNTAX = "SG001"  # the mapping is not valid YAML
    DUPLICATE_KEY = "SG002"  # a YAML mapping repeats a key
    BAD_STRUCTURE = "SG003"  # a key or value does not fit the mapping format
    BAD_NAME = "SG004"  # shim name is not [a-z][a-z0-9-]*
    BAD_VERSION = "SG005"  # version is not a positive integer
    SCHEMA_UNREADABLE = "SG006"  # a schema file cannot be read or resolved
    MAPPING_UNREADABLE = "SG007"  # the mapping file cannot be read (missing, a directory, ...)
    UNCOVERED_FIELD = "SG101"  # internal field not in the mapping (deny by default)
    UNKNOWN_INTERNAL = "SG102"  # mapping names a path the internal schema lacks
    UNKNOWN_EXTERNAL = "SG103"  # `to:` names a path the external schema lacks
    DUPLICATE_TARGET = "SG104"  # two sources for one external path
    REQUIRED_UNSOURCED = "SG105"  # required external field with no source in a view
    TYPE_MISMATCH = "SG106"  # treatment output does not fit the external type
    NOT_APPLICABLE = "SG107"  # treatment cannot apply to the internal type
    IRREVERSIBLE_INBOUND = "SG108"  # inbound: true on an irreversible treatment
    MISSING_WHY = "SG109"  # pii/secret reaches a view as pass without why:
    UNDECLARED_GROUP = "SG110"  # group not declared in groups:
    MAP_INCOMPLETE = "SG111"  # internal enum value missing from map:
    UNION_PATH = "SG112"  # a path walks into a oneOf/anyOf union
    RECURSIVE_PASS = "SG113"  # retired: a recursive structure is copied by a recursive function
    ARRAY_SHAPE = "SG114"  # array levels of source and target do not line up
    BAD_TREATMENT = "SG115"  # unknown treatment or bad parameters
    OVERLAP = "SG116"  # retired: an entry inside another one is more specific and wins
    BAD_DERIVED = "SG117"  # derived: entry that cannot be computed
    BAD_CLASSIFICATION = "SG118"  # classification: names an unknown path
    NO_UPSTREAM = "SG119"  # routes: without upstream:
    BAD_ROUTE = "SG120"  # route external/internal is not `METHOD /path` (or reserved, body lost)
    DUPLICATE_ROUTE = "SG121"  # two routes share external method and path
    ROUTE_GROUPS = "SG122"  # a route's groups: is empty or repeats a group
    ROUTE_PARAM_FIELD = "SG123"  # external path parameter is not a single inbound external field
    ROUTE_PARAM_IRREVERSIBLE = "SG124"  # path parameter cannot be reversed for a route group
    ROUTE_PARAM_UNBOUND = "SG125"  # external and internal path parameters do not pair up
    BAD_QUERY = "SG126"  # query parameter name invalid or repeated
    BAD_UPSTREAM = "SG127"  # upstream url_env not an env var name, or timeout not > 0
    BAD_ELEVATION = "SG128"  # an elevated group's durations, approvers, excludes or beyond


RETIRED = frozenset({Code.OVERLAP, Code.RECURSIVE_PASS})
"""Codes no check reports any more; kept so that old CI configs and docs still resolve."""


@dataclass(frozen=True)
class Finding:
    code: Code
    message: str
    file: Path
    line: int
    col: int
    hint: str = ""
    severity: Severity = Severity.ERROR

    def format(self) -> str:
        head = f"{self.file}:{self.line}:{self.col}: {self.severity}[{self.code}]: {self.message}"
        return one_line(head) + (f"\n  hint: {one_line(self.hint)}" if self.hint else "")

    def sort_key(self) -> tuple[str, int, int, str]:
        return (str(self.file), self.line, self.col, self.code)


def one_line(text: str) -> str:
    """``text`` as one line of printable characters, anything else escaped (``\\n``, ``\\x1b``).

    Messages quote the inputs (a ``$ref``, a key, a file name), which a partner may
    have written: a line break would forge a finding of its own, a terminal escape
    would rewrite the screen. Also what generated comments are made of.
    """
    return "".join(c if c.isprintable() else ascii(c)[1:-1] for c in text)


def some_of(items: list[str], limit: int) -> str:
    """``a, b, c and 4 more``: at most ``limit`` items, then how many are left out.

    When only one would be left out it is shown instead: "and 1 more" takes the room
    of the item itself.
    """
    if len(items) <= limit + 1:
        return ", ".join(items)
    return ", ".join(items[:limit]) + f" and {len(items) - limit} more"


def closest(word: str, known: list[str]) -> str | None:
    """The name in ``known`` a misspelt ``word`` most likely meant, if one is close."""
    close = difflib.get_close_matches(word, known, n=1, cutoff=0.75)
    return close[0] if close else None


def did_you_mean(word: str, known: list[str]) -> str:
    """``did you mean `tokenize`? `` for a misspelt name, or ``""`` when none is close.

    A hint that lists what is allowed, cut after a few items (``and 32 more``), may
    leave out the very name that was meant; this names it first.
    """
    close = closest(word, known)
    return f"did you mean `{close}`? " if close else ""


def has_errors(findings: list[Finding]) -> bool:
    return any(f.severity is Severity.ERROR for f in findings)
