"""Records synthesized from a loaded schema, for tests that run real schemas end to end.

Unlike the generated canary (``shimgen.render.canary``), which only has to be
unique and searchable, these records must be *valid* for the schema, because
the chain test validates them with the generated pydantic models before
translating them. So every optional field is filled, arrays get two items,
maps one entry, and string values follow ``enum``, ``const``, ``format``,
``pattern`` and length limits; numbers follow their bounds. The constraints
that the :class:`SchemaNode` graph does not keep (pattern, lengths, bounds)
are read from the raw schema at ``node.source``, following its ``$ref`` and
``allOf`` parts; so are ``required`` names that no ``properties`` declare
(the record must have them; the shim ignores them). Recursion is bounded as
``init`` bounds its listing: a schema node is opened at most ``depth`` times
on one path (once by default), and a recursion hub (``expand_at``, FHIR's
``Extension``) only at its one path; the fields left out there are optional
in every real schema tried (a required one makes the record invalid, which
the chain test reports).

Deterministic: the same schema gives the same record.
"""

from __future__ import annotations

import random
import re
from pathlib import Path
from typing import Any

import rstr

from shimgen.schema.model import ARRAY, Kind, Path_, SchemaNode, format_path
from shimgen.schema.refs import DocumentStore, Located, SchemaError, split_pointer

OMIT = object()
"""Returned for a field the record leaves out (null-only, or recursion too deep)."""

_CONSTRAINTS = (
    "pattern",
    "minLength",
    "maxLength",
    "minimum",
    "maximum",
    "exclusiveMinimum",
    "exclusiveMaximum",
    "multipleOf",
    "const",
    "minItems",
    "maxItems",
    "patternProperties",
)

_FORMATS: dict[str, str] = {
    "date": "2024-03-17",
    "date-time": "2024-03-17T10:22:05Z",
    "time": "10:22:05",
    "email": "jane.doe@example.com",
    "idn-email": "jane.doe@example.com",
    "uri": "https://example.com/x/1",
    "url": "https://example.com/x/1",
    "iri": "https://example.com/x/1",
    "uri-reference": "https://example.com/x/1",
    "iri-reference": "https://example.com/x/1",
    "uri-template": "https://example.com/x/{id}",
    "uuid": "3f2b8c1e-9d4a-4e7b-8a6f-2c1d0e9b7a55",
    "ipv4": "192.0.2.7",
    "ipv6": "2001:db8::7",
    "hostname": "host.example.com",
    "idn-hostname": "host.example.com",
    "byte": "c2hpbWdlbg==",
    "duration": "P1D",
}

_CANDIDATES = (
    "2024-03-17",
    "2024-03-17T10:22:05Z",
    "10:22:05",
    "abc",
    "a1",
    "A",
    "1",
    "42",
    "https://example.com/x/1",
    "urn:uuid:3f2b8c1e-9d4a-4e7b-8a6f-2c1d0e9b7a55",
)
"""Tried against a ``pattern`` first: readable values where they match."""


class Synthesizer:
    """Makes records for one schema graph; reads raw constraints through its own store."""

    def __init__(self, depth: int = 1) -> None:
        self.depth = depth
        self.store = DocumentStore()
        self._raw: dict[str, dict[str, Any]] = {}

    def record(self, root: SchemaNode) -> dict[str, Any]:
        value = self.value(root, (), ())
        assert isinstance(value, dict), f"{root.describe()} is not an object schema"
        return value

    # -- raw constraints ------------------------------------------------------------

    def constraints(self, node: SchemaNode) -> dict[str, Any]:
        """Validation keywords of the schema ``node`` was built from (own site first)."""
        found = self._raw.get(node.source)
        if found is not None:
            return found
        out: dict[str, Any] = {}
        file, _, pointer = node.source.rpartition("#")
        if file:
            try:
                start = self._locate(Path(file), pointer)
            except (SchemaError, KeyError, IndexError, TypeError):
                start = None
            todo = [start] if start is not None else []
            seen: set[tuple[Path, str]] = set()
            while todo:
                loc = todo.pop(0)
                if loc.key in seen or not isinstance(loc.value, dict):
                    continue
                seen.add(loc.key)
                for key in _CONSTRAINTS:
                    if key in loc.value and key not in out:
                        out[key] = loc.value[key]
                required = loc.value.get("required")
                if isinstance(required, list):
                    names = out.setdefault("required", [])
                    names.extend(r for r in required if isinstance(r, str) and r not in names)
                if isinstance(loc.value.get("$ref"), str):
                    todo.append(self.store.resolve(loc))
                if isinstance(loc.value.get("allOf"), list):
                    todo.extend(loc.child("allOf", i) for i in range(len(loc.value["allOf"])))
        self._raw[node.source] = out
        return out

    def _locate(self, file: Path, pointer: str) -> Located:
        doc = self.store.open(file)
        value: Any = doc.data
        for seg in split_pointer(pointer):
            value = value[int(seg)] if isinstance(value, list) else value[seg]
        return Located(doc, pointer, value)

    # -- values ---------------------------------------------------------------------

    def value(self, node: SchemaNode, path: Path_, stack: tuple[int, ...]) -> Any:
        if stack.count(id(node)) >= self.depth:
            return OMIT
        if node.expand_at is not None and node.expand_at != path and path:
            return OMIT  # a recursion hub opens at one path only, as in `init`'s listing
        stack = (*stack, id(node))
        c = self.constraints(node)
        if "const" in c:
            return c["const"]
        if node.enum:
            return node.enum[0]
        kind = node.kind
        if kind is Kind.OBJECT:
            out: dict[str, Any] = {}
            for name, child in node.properties.items():
                if child.kind is Kind.ANY and name not in node.required:
                    continue  # a copy leaves an optional untyped field out
                value = self.value(child, (*path, name), stack)
                if value is not OMIT:
                    out[name] = value
            for name in c.get("required", ()):
                if name not in node.properties:
                    out[name] = "any-value"  # required, never declared (Box's `accessed`)
            return out
        if kind is Kind.ARRAY:
            if node.items is None:
                return []
            count = max(1, min(2, int(c.get("maxItems", 2))))
            items = [self.value(node.items, (*path, ARRAY), stack) for _ in range(count)]
            items = [self._vary(v, i) for i, v in enumerate(items) if v is not OMIT]
            if not items and int(c.get("minItems", 0)) > 0:
                return OMIT  # recursion too deep for the one item the array needs
            return items
        if kind is Kind.MAP:
            if node.free_form:
                return {}  # copied as {} (deny by default): its content is not declared
            if "patternProperties" in c:
                return {}  # keys must match a pattern (and the pydantic model says which)
            inner = self.value(node.values, (*path, "key1"), stack)
            return {} if inner is OMIT else {"key1": inner}
        if kind is Kind.UNION:
            for variant in node.variants:
                value = self.value(variant, path, stack)
                if value is not OMIT:
                    return value
            return OMIT
        if kind is Kind.STRING:
            return self.string(node, c, path)
        if kind is Kind.INTEGER:
            return int(self.number(c, 7))
        if kind is Kind.NUMBER:
            return self.number(c, 7.5)
        if kind is Kind.BOOLEAN:
            return True
        if kind is Kind.ANY:
            return "any-value"
        return OMIT  # null-only: leaving it out is what the record can do

    @staticmethod
    def _vary(value: Any, i: int) -> Any:
        """Array items differ where that keeps them valid (uniqueItems on integers)."""
        return value + i if isinstance(value, int) and not isinstance(value, bool) else value

    def string(self, node: SchemaNode, c: dict[str, Any], path: Path_) -> str:
        low = int(c.get("minLength", 0))
        high = int(c.get("maxLength", 10_000))
        pattern = c.get("pattern")
        fmt = _FORMATS.get(node.format or "")
        candidates = [fmt] if fmt else []
        candidates += [f"{format_path(path).replace('[]', '')}-text", *_CANDIDATES]
        for text in candidates:
            if low <= len(text) <= high and (
                not isinstance(pattern, str) or _search(pattern, text)
            ):
                return text
        if isinstance(pattern, str):
            gen = rstr.Rstr(random.Random(format_path(path)))
            for _ in range(50):
                text = gen.xeger(pattern)
                if low <= len(text) <= high and _search(pattern, text):
                    return text
        return ("x" * max(low, 1))[: max(high, 1)]

    @staticmethod
    def number(c: dict[str, Any], preferred: float) -> float:
        low = c.get("minimum", c.get("exclusiveMinimum"))
        high = c.get("maximum", c.get("exclusiveMaximum"))
        value = preferred
        if isinstance(low, int | float) and value <= low:
            value = low + 1
        if isinstance(high, int | float) and value >= high:
            value = high - 1 if not isinstance(low, int | float) else (low + high) / 2
        step = c.get("multipleOf")
        if isinstance(step, int | float) and step > 0:
            value = step * max(1, round(value / step))
        return value


def _search(pattern: str, text: str) -> bool:
    try:
        return re.search(pattern, text) is not None
    except re.error:
        return True  # an ECMA-only construct: the generated validator is the judge
