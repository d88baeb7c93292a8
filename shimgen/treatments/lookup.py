"""``map``: enum values under other labels, through a table written in the mapping."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from shimgen.schema.model import Kind, SchemaNode
from shimgen.treatments.base import (
    Emitter,
    Sample,
    Site,
    Treatment,
    TreatmentDef,
    TreatmentError,
    register,
)
from shimgen.treatments.fit import Promise, kind_of, not_in, scalar_fit


@register
class Map(TreatmentDef):
    name = "map"
    category = "mapped"
    rank = 20
    summary = "an external value for each internal enum value"
    example = "{map: {A: active, S: suspended}}"
    samples = (
        Sample({"type": "string", "enum": ["A", "S"]}, "S", {"map": {"A": "active", "S": "off"}}),
    )
    accepts = frozenset({Kind.STRING, Kind.INTEGER, Kind.BOOLEAN})
    reversible = True
    checks_input = False
    lookup = True

    def parse(self, arg: Any) -> tuple[tuple[str, Any], ...]:
        hint = f"write `{self.example}`"
        if arg is None:
            raise TreatmentError("`map` needs a parameter", hint)
        if not isinstance(arg, Mapping) or not arg:
            raise TreatmentError("`map` needs a non-empty table", hint)
        if any(v is None or isinstance(v, (dict, list)) for v in arg.values()):
            raise TreatmentError("`map` values must be plain non-null values", hint)
        # sorted: a table's order means nothing, so two orders are one treatment (and a
        # mapping rewritten with its keys in another order is no change to diff)
        return (("table", tuple(sorted(arg.items(), key=_entry_order))),)

    def spec_schema(self) -> list[dict[str, Any]]:
        value = {"anyOf": [{"type": t} for t in ("string", "integer", "number", "boolean")]}
        return [
            self.object_form({"type": "object", "minProperties": 1, "additionalProperties": value})
        ]

    def label(self, t: Treatment) -> str:
        return "map(" + ", ".join(f"{k}→{v}" for k, v in t.table.items()) + ")"

    def is_reversible(self, t: Treatment) -> bool:
        values = list(t.table.values())
        return len(values) == len(set(values))

    def fit(self, t: Treatment, src: SchemaNode, dst: SchemaNode) -> str | None:
        values = list(t.table.values())
        for kind in {kind_of(v) for v in values}:
            mine = Promise(values=tuple(v for v in values if kind_of(v) is kind))
            reason = scalar_fit(kind, None, dst, enum_checked=True, promise=mine)
            if reason:
                return reason
        if dst.enum is not None:
            missing = not_in(values, dst.enum)
            if missing:
                return f"map yields {missing[0]!r}, which is not in the external enum"
        return None

    def reveals(self, t: Treatment) -> int | None:
        return None  # the value under another name: all of its information

    def outbound(self, t: Treatment, em: Emitter, site: Site) -> str:
        return f"{em.const('map', repr(t.table))}[v]"  # KeyError handled by the leaf

    def inbound(self, t: Treatment, em: Emitter, site: Site) -> str:
        inverse = em.const("rev", repr({v: k for k, v in t.table.items()}))
        return f"_s.lookup({inverse}, v)"

    def compare(self, old: Treatment, new: Treatment) -> tuple[int, str]:
        """A map reveals as much as it tells internal values apart."""
        a, b = len(set(old.table.values())), len(set(new.table.values()))
        if b > a:
            why = "the map tells more internal values apart"
            if new.reversible and not old.reversible:
                why = "the map becomes one-to-one, so each external value names one internal value"
            return 1, why
        if b < a:
            why = "the map merges internal values"
            if old.reversible and not new.reversible:
                why = "the map is no longer one-to-one"
            return -1, why
        return 0, "the map's labels changed; it tells as many values apart as before"


def _entry_order(entry: tuple[Any, Any]) -> tuple[str, str]:
    """A total order on table entries whose keys may mix types (YAML reads `1` and `"1"`)."""
    return type(entry[0]).__name__, repr(entry[0])
