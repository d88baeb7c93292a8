"""Canary records for the generated leak test.

Every internal field is filled with a value that is unique, valid for its
schema type and easy to search for. A field that is not passed in a view
must leave no trace of its canary (no run of ``LEAK_WINDOW`` characters, from
``shimgen.treatments``) in that view's output.

The record holds a value at exactly the fields the mapping lists (``iter_leaves``):
a node met again on the walk stack, or a recursion hub met anywhere but at its one
``expand_at`` path (``shimgen.schema.recursion``), is left out, as it is a recursive
leaf in the listing. Without the hub rule a stack-only walk re-expands FHIR's
``Extension`` under every field: a 57 MB record for ``Patient``, where this one
stays proportional to the listing.
"""

from __future__ import annotations

import hashlib
from typing import Any

from shimgen.check.plan import ShimPlan, View
from shimgen.render.unions import union_canary
from shimgen.schema.datelike import date_shapes
from shimgen.schema.model import ARRAY, SCALARS, Kind, Path_, SchemaNode, format_path, held
from shimgen.treatments import LEAK_WINDOW

UNKNOWN_FIELD = "zz_not_in_schema"
"""A field no schema declares: the canary carries it at the root and in each union branch."""
_ALPHABET = "ghjkmnpqrstvwxyz"  # no hex digits: a hash or token cannot contain it by chance


def _seed(path: str, n: int) -> bytes:
    return hashlib.sha256(f"{path}#{n}".encode()).digest()


def _text(path: str, n: int, length: int = 24) -> str:
    return "".join(_ALPHABET[b % len(_ALPHABET)] for b in _seed(path, n)[:length])


def _value(node: SchemaNode, path: str, n: int) -> Any:
    seed = int.from_bytes(_seed(path, n)[:8], "big")
    if node.enum:
        return node.enum[n % len(node.enum)]
    if node.kind is Kind.STRING:
        shapes = date_shapes(node)  # a format, or a date-like pattern (FHIR dates)
        if "date" in shapes and "date-time" not in shapes:
            return f"{1901 + seed % 98}-{1 + seed % 12:02d}-{1 + seed % 28:02d}"
        if "date-time" in shapes:
            return f"{1901 + seed % 98}-{1 + seed % 12:02d}-{1 + seed % 28:02d}T{seed % 24:02d}:{seed % 60:02d}:17Z"
        if node.format == "email":
            return f"{_text(path, n, 16)}@example.com"
        return _text(path, n)
    if node.kind is Kind.INTEGER:
        return 1_000_000_000 + seed % 8_999_999_999
    if node.kind is Kind.NUMBER:
        return round(10_000 + (seed % 89_999_999) / 1000, 3)
    if node.kind is Kind.BOOLEAN:
        return True
    if node.kind is Kind.UNION:
        scalars = [v for v in node.variants if v.kind in SCALARS]
        return _value(scalars[0], path, n) if scalars else None
    return None


def _unknown() -> dict[str, Any]:
    return {UNKNOWN_FIELD: {"note": _text(UNKNOWN_FIELD, 0)}}


def _build(
    node: SchemaNode, path: Path_, stack: tuple[int, ...], n: int, branch: bool = True
) -> Any:
    if id(node) in stack or (node.kind is Kind.OBJECT and node.properties and held(node, path)):
        return None
    stack = (*stack, id(node))
    if node.kind is Kind.UNION and branch:
        # one object branch, with an undeclared field inside; unions within it
        # get a scalar (or nothing), so the record stays the listing's size
        return union_canary(
            node,
            lambda b: _build(b, path, stack, n, branch=False),
            _unknown(),
        )
    if node.kind is Kind.OBJECT:
        out = {}
        for name, child in node.properties.items():
            value = _build(child, (*path, name), stack, n, branch)
            if value is not None:
                out[name] = value
        return out
    if node.kind is Kind.ARRAY and node.items is not None:
        items = [_build(node.items, (*path, ARRAY), stack, n + i, branch) for i in range(2)]
        return [i for i in items if i is not None]
    if node.kind is Kind.MAP and node.values is not None and node.values.kind in SCALARS:
        return {_text(format_path(path), n, 8): _value(node.values, format_path(path), n)}
    return _value(node, format_path(path), n)


def schema_record(root: SchemaNode) -> dict[str, Any]:
    """A canary value at every field ``iter_leaves`` lists under ``root`` and is not recursive."""
    record = _build(root, (), (), 0)
    assert isinstance(record, dict)
    return record


def canary_record(plan: ShimPlan) -> dict[str, Any]:
    """The internal canary record, plus a field the schema does not have (never emitted)."""
    record = schema_record(plan.internal.root)
    record.update(_unknown())
    return record


def secrets(value: Any) -> list[str]:
    """The searchable texts inside a canary value (enums and booleans are public labels)."""
    if isinstance(value, dict):
        return [s for k, v in value.items() for s in [*secrets(k), *secrets(v)]]
    if isinstance(value, list):
        return [s for v in value for s in secrets(v)]
    if isinstance(value, bool) or value is None:
        return []
    text = str(value)
    if isinstance(value, str) and "@" in text:
        text = text.split("@")[0]  # mask_email shows the domain by design
    return [text] if len(text) >= LEAK_WINDOW else []


def _at(doc: Any, path: Path_) -> list[Any]:
    if not path:
        return [doc]
    head, rest = path[0], path[1:]
    if head == ARRAY:
        return [v for item in (doc if isinstance(doc, list) else []) for v in _at(item, rest)]
    return _at(doc[head], rest) if isinstance(doc, dict) and head in doc else []


def forbidden(plan: ShimPlan, record: dict[str, Any]) -> dict[View, list[tuple[str, int]]]:
    """Per view, the canary texts that must not appear in its output, with their windows.

    A field whose treatment may show the whole value (``pass``, ``map``,
    ``round``, ``truncate``) and enum fields (public labels) are not searched.
    Each window is the treatment's ``leak_window``, the number ``check`` bounds.
    """
    out: dict[View, list[tuple[str, int]]] = {}
    for view in plan.views:
        texts = {(t, LEAK_WINDOW) for t in secrets(record.get(UNKNOWN_FIELD))}
        for rule in plan.rules:
            window = rule.treatment(view).leak_window
            if window is None or rule.in_node.enum:
                continue
            for value in _at(record, rule.internal):
                texts.update((t, window) for t in secrets(value))
        out[view] = sorted(texts)
    return out
