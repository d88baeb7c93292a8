"""Which strings hold dates: a ``format``, or a ``pattern`` that behaves like a date's.

Real schemas often say "date" with a regular expression instead of a format:
FHIR's ``date``, ``dateTime`` and ``instant`` are strings with a ``pattern``
and no ``format``, and FHIR allows partial dates (``1974``, ``1974-12``).

A pattern is recognised by what it *accepts*, never by how it is spelled
(two regexes for the same language can look nothing alike): it is tried on
probe values. A pattern is date-like when

- it accepts an ISO 8601 calendar date (``2024-03-17``) or an RFC 3339
  date-time (``2024-03-17T10:22:05Z``), and
- it refuses every probe that is not a date (empty text, words, a time, a
  date with text around it, another date order such as ``17/03/2024``).

Its *shapes* are the probe forms it accepts: ``year`` (``1974``),
``year-month`` (``1974-12``), ``date`` and ``date-time``. A pattern that
accepts ``year`` or ``year-month`` allows partial dates, and the generated
code then parses them. JSON Schema patterns are ECMA 262 regexes, unanchored;
they are run with Python's ``re.search``, which reads the common subset the
same way. A pattern Python cannot compile is not date-like.
"""

from __future__ import annotations

import re
from functools import lru_cache

from shimgen.schema.model import Kind, SchemaNode

SHAPES: dict[str, tuple[str, ...]] = {
    "year": ("1974",),
    "year-month": ("1974-12",),
    "date": ("2024-03-17", "1974-12-31"),
    "date-time": ("2024-03-17T10:22:05Z", "2024-03-17T10:22:05+02:00"),
}
"""Probe values per shape; a shape counts when the pattern accepts all of its probes."""

NOT_DATES = (
    "",
    "x",
    "not a date",
    "10:22:05",
    "17/03/2024",
    "2024-03-17 and more",
    "text 2024-03-17",
    "2024-03-17T10:22:05Z and more",
)
"""Values a date-like pattern must refuse."""

FULL = frozenset({"date", "date-time"})
PARTIAL = frozenset({"year", "year-month"})


@lru_cache(maxsize=1024)
def pattern_shapes(pattern: str) -> frozenset[str]:
    """The date shapes ``pattern`` accepts; empty when it is not date-like."""
    try:
        regex = re.compile(pattern)
    except (re.error, RecursionError, OverflowError):
        return frozenset()
    if any(regex.search(text) for text in NOT_DATES):
        return frozenset()
    shapes = frozenset(
        shape for shape, probes in SHAPES.items() if all(regex.search(p) for p in probes)
    )
    return shapes if shapes & FULL else frozenset()


def date_shapes(node: SchemaNode) -> frozenset[str]:
    """The date shapes a string field holds: by ``format``, else by a date-like ``pattern``.

    A declared format wins: ``format: email`` with a date-looking pattern is
    not a date.
    """
    if node.kind is not Kind.STRING:
        return frozenset()
    if node.format in FULL:
        return frozenset({node.format})
    if node.format is None and node.pattern is not None:
        return pattern_shapes(node.pattern)
    return frozenset()


def allows_partial(node: SchemaNode) -> bool:
    """True when the field may hold a year (``1974``) or year-month (``1974-12``) alone."""
    return bool(date_shapes(node) & PARTIAL)
