"""Does a treated internal value fit the external type?

Answers are a reason string (for the finding) or None. ``pass`` compares the
two schemas structurally; every other treatment has a documented output type
from the catalogue.
"""

from __future__ import annotations

from shimgen.schema.model import SCALARS, Kind, SchemaNode
from shimgen.treatments import Treatment


class RecursiveCopy(Exception):
    """A whole-field ``pass`` would have to copy a recursive structure forever."""

    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.name = name


def treatment_fit(t: Treatment, src: SchemaNode, dst: SchemaNode) -> str | None:
    """Why ``t`` applied to ``src`` does not fit ``dst``, or None if it does."""
    if t.name == "pass":
        return pass_fit(src, dst, ())
    if t.name == "drop":
        return None
    if t.name == "null":
        ok = dst.nullable or dst.kind in (Kind.ANY, Kind.NULL)
        return None if ok else f"`null` yields null but the external field is {dst.describe()}"
    if t.name == "map":
        values = list(t.table.values())
        kinds = {_kind_of(v) for v in values}
        for kind in kinds:
            reason = _scalar_fit(kind, None, dst, enum_checked=True)
            if reason:
                return reason
        if dst.enum is not None:
            missing = [v for v in values if v not in dst.enum]
            if missing:
                return f"map yields {missing[0]!r}, which is not in the external enum"
        return None
    if t.name == "round":
        return _scalar_fit(src.kind, None, dst)
    if t.name == "redact" and dst.enum is not None and t.param("text") not in dst.enum:
        return "the redaction text is not in the external enum"
    out = t.info.output
    assert out is not None
    return _scalar_fit(out, None, dst, what=f"`{t.name}` yields {out.value}")


def applicable(t: Treatment, src: SchemaNode) -> str | None:
    """Why ``t`` cannot apply to ``src``, or None if it can."""
    accepts = t.info.accepts
    if t.name in ("drop", "null", "redact"):
        return None
    if t.name == "pass":
        if src.kind is Kind.UNION and any(v.kind not in SCALARS for v in src.variants):
            return "a union with object or array branches cannot be copied field by field"
        return None
    kind = src.kind
    if accepts is not None and kind not in accepts:
        names = " or ".join(sorted(k.value for k in accepts))
        return f"`{t.name}` applies to {names} values, not {src.describe()}"
    if t.name in ("year", "month") and src.format not in ("date", "date-time"):
        return f"`{t.name}` needs a string with format date or date-time, not {src.describe()}"
    return None


def pass_fit(src: SchemaNode, dst: SchemaNode, stack: tuple[int, ...]) -> str | None:
    """Structural fit of a copied value; raises :class:`RecursiveCopy` on a cycle."""
    if src.kind is Kind.ANY:
        return "an untyped internal value could hold anything; drop or redact it"
    if dst.kind is Kind.ANY:
        return None if src.kind in SCALARS else _any_target(src)
    if src.kind is Kind.UNION:
        for variant in src.variants:
            reason = pass_fit(variant, dst, stack)
            if reason:
                return reason
        return None
    if dst.kind is Kind.UNION:
        reasons = [pass_fit(src, v, stack) for v in dst.variants]
        return (
            None
            if any(r is None for r in reasons)
            else f"{src.describe()} fits no branch of {dst.describe()}"
        )
    if src.kind in SCALARS:
        return _scalar_fit(src.kind, src, dst)
    if id(src) in stack:
        raise RecursiveCopy(src.name or "a recursive schema")
    stack = (*stack, id(src))
    if src.kind is Kind.ARRAY and dst.kind is Kind.ARRAY and src.items and dst.items:
        return pass_fit(src.items, dst.items, stack)
    if src.kind is Kind.MAP and dst.kind is Kind.MAP and src.values and dst.values:
        return pass_fit(src.values, dst.values, stack)
    if src.kind is Kind.OBJECT and dst.kind is Kind.OBJECT:
        for name, child in src.properties.items():
            if name not in dst.properties:
                return f"the external object has no field `{name}`; map the fields one by one"
            reason = pass_fit(child, dst.properties[name], stack)
            if reason:
                return f"`{name}`: {reason}"
        missing = sorted(dst.required - set(src.properties))
        if missing:
            return f"the external object requires `{missing[0]}`, which the internal one lacks"
        return None
    return f"{src.describe()} does not fit {dst.describe()}"


def _any_target(src: SchemaNode) -> str:
    return f"copying {src.describe()} into an untyped field would pass unknown content"


def _kind_of(value: object) -> Kind:
    if isinstance(value, bool):
        return Kind.BOOLEAN
    if isinstance(value, int):
        return Kind.INTEGER
    if isinstance(value, float):
        return Kind.NUMBER
    return Kind.STRING


def _scalar_fit(
    kind: Kind,
    src: SchemaNode | None,
    dst: SchemaNode,
    what: str = "",
    *,
    enum_checked: bool = False,
) -> str | None:
    what = what or (src.describe() if src else kind.value)
    if dst.kind is Kind.ANY:
        return None
    if dst.kind is Kind.UNION:
        ok = any(_scalar_fit(kind, src, v) is None for v in dst.variants)
        return None if ok else f"{what} fits no branch of {dst.describe()}"
    if kind is Kind.NULL:
        return None if dst.nullable else f"{what} but the external field is not nullable"
    same = kind is dst.kind
    widening = kind is Kind.INTEGER and dst.kind is Kind.NUMBER
    to_text = kind is Kind.INTEGER and dst.kind is Kind.STRING and not dst.format
    if not (same or widening or to_text):
        return f"{what} but the external field is {dst.describe()}"
    # a copied string may lack a declared format; a treated one never has it
    wrong_format = src is None or (src.format and src.format != dst.format)
    if dst.format and same and kind is Kind.STRING and wrong_format:
        return f"{what} but the external field needs format {dst.format}"
    if dst.enum is not None and src is not None:
        if src.enum is None:
            return f"{what} may hold any value but the external field is an enum; use `map:`"
        extra = [v for v in src.enum if v not in dst.enum]
        if extra:
            return f"internal value {extra[0]!r} is not in the external enum; use `map:`"
    elif dst.enum is not None and src is None and not enum_checked:
        return f"{what} but the external field is an enum"
    return None
