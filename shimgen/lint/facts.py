"""Small questions rules ask about a plan, and where in the YAML the answer lives.

Rules report a YAML data path; these helpers pick the most useful one (the
``treat:`` value rather than the field key, a group's override rather than the
default) so a finding lands on the line a reviewer has to change.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from shimgen.check.plan import Rule
from shimgen.mapping.load import LoadedMapping
from shimgen.mapping.yamlpos import DataPath
from shimgen.schema.model import ARRAY, SCALARS, Kind, SchemaNode
from shimgen.treatments import Treatment


def field_at(key: str) -> DataPath:
    return ("fields", key)


def treat_at(loaded: LoadedMapping, key: str, group: str | None) -> DataPath:
    """Where the treatment of ``key`` for ``group`` (None: the field's own) is written."""
    if group is not None:
        return ("fields", key, "groups", group)
    if ("fields", key, "treat") in loaded.positions.keys:
        return ("fields", key, "treat")
    return ("fields", key)


def to_at(loaded: LoadedMapping, key: str) -> DataPath:
    """Where the external path of ``key`` is written (the key itself when ``to:`` is omitted)."""
    if ("fields", key, "to") in loaded.positions.keys:
        return ("fields", key, "to")
    return ("fields", key)


def placements(rule: Rule) -> Iterator[tuple[str | None, Treatment]]:
    """Each treatment as written: the field's own (None) and every group override."""
    yield None, rule.treat
    yield from rule.groups.items()


def view_name(view: str | None) -> str:
    return "the no-group view" if view is None else f"group `{view}`"


def views_using(views: list[str | None], rule: Rule, group: str | None) -> list[str | None]:
    """The views that get the treatment written at ``group`` (None: the field's own ``treat:``)."""
    if group is not None:
        return [group]
    own: list[str | None] = [v for v in views if v is not None and v not in rule.groups]
    if rule.treatment(None) == rule.treat:
        own.append(None)
    return own


def views_text(views: list[str | None], every: list[str | None]) -> str:
    """``group `a`, group `b``` or ``every view`` when the list covers them all."""
    if len(views) == len(every) and len(every) > 1:
        return "every view"
    return ", ".join(view_name(v) for v in views)


def is_subtree(node: SchemaNode) -> bool:
    """A structured value (object, map, union, untyped, array of such) rather than a scalar."""
    seen: set[int] = set()
    while node.kind is Kind.ARRAY:  # arrays of arrays may cycle (`a = array of a`)
        if node.items is None or id(node) in seen:
            return True
        seen.add(id(node))
        node = node.items
    return node.kind not in SCALARS and node.kind is not Kind.NULL


def last_name(path: tuple[str, ...]) -> str:
    """The last field name of a path, skipping ``[]`` steps."""
    names = [seg for seg in path if seg != ARRAY]
    return names[-1] if names else ""


def matches(pattern: str, text: str) -> bool:
    return re.search(pattern, text) is not None
