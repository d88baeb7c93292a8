"""Does a value fit an external type? The structural rules every treatment builds on.

A treatment answers "what do I yield" (kind and format); these functions
answer "does that fit the external field". ``pass`` compares two schemas
structurally (:func:`pass_fit`); every other treatment checks its declared
output with :func:`scalar_fit`. Answers are a reason string (for the
finding) or None.
"""

from __future__ import annotations

from weakref import WeakKeyDictionary

from shimgen.check import unions
from shimgen.schema.model import SCALARS, Kind, SchemaNode

_KNOWN: WeakKeyDictionary[SchemaNode, dict[SchemaNode, str | None]] = WeakKeyDictionary()
"""Final answers of :func:`pass_fit` per (internal, external) pair. Real schemas share
their types everywhere (Stripe's customer and charge reach each other through dozens
of paths), so without it one comparison walks the same pairs exponentially often."""


def pass_fit(src: SchemaNode, dst: SchemaNode, stack: unions.Copying = None) -> str | None:
    """Structural fit of a copied value.

    A recursive schema (a tree, FHIR's ``Extension``, a JSON-like ``configuration``)
    is copied by a generated function that calls itself, as deep as the value goes:
    the pair met again fits if everything else on the way does (:class:`unions.Walk`).
    """
    if src.kind in SCALARS or src.free_form or src.kind is Kind.ANY:
        return _fit(src, dst, stack)
    known = _KNOWN.get(src)
    if known is not None and dst in known:
        return known[dst]
    if stack is not None:
        return _visit(src, dst, stack)
    while True:  # each round keeps at least one new failure, so this ends
        walk = unions.Walk()
        reason = _visit(src, dst, walk)
        wrong = [walk.answers[k] for k in walk.assumed if walk.answers[k][2] is not None]
        for s, d, r in wrong or walk.answers.values():
            _KNOWN.setdefault(s, {})[d] = r
        if not wrong:
            return reason


def _visit(src: SchemaNode, dst: SchemaNode, walk: unions.Walk) -> str | None:
    key = (id(src), id(dst))
    met = walk.answers.get(key)
    if met is not None:
        if met[2] == unions.PENDING:
            walk.assumed.add(key)
            return None
        return met[2]
    walk.answers[key] = (src, dst, unions.PENDING)
    reason = _fit(src, dst, walk)
    walk.answers[key] = (src, dst, reason)
    return reason


def _fit(src: SchemaNode, dst: SchemaNode, stack: unions.Copying) -> str | None:
    if src.free_form:  # copied as {}: it fits any object that requires nothing
        return None if _takes_empty(dst) else f"it is copied as {{}}, not {dst.describe()}"
    if src.kind is Kind.ANY:
        return "an untyped internal value could hold anything; drop or redact it"
    if dst.kind is Kind.ANY:
        return None if src.kind in SCALARS else _any_target(src)
    if src.kind is Kind.UNION:
        return unions.union_fit(src, dst, stack, pass_fit)  # branch by branch
    if dst.kind is Kind.UNION:
        if any(pass_fit(src, v, stack) is None for v in dst.variants):
            return None
        return f"{src.describe()} fits no branch of {dst.describe()}"
    if src.kind in SCALARS:
        return scalar_fit(src.kind, src, dst)
    if src.kind is Kind.ARRAY and dst.kind is Kind.ARRAY and src.items and dst.items:
        return pass_fit(src.items, dst.items, stack)
    if src.kind is Kind.MAP and dst.kind is Kind.MAP and src.values and dst.values:
        return pass_fit(src.values, dst.values, stack)
    if src.kind is Kind.OBJECT and dst.kind is Kind.OBJECT:
        for name, child in src.properties.items():
            if untyped_field(src, name):
                continue  # left out of the copy: a declared name with no declared type
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


def untyped_field(node: SchemaNode, name: str) -> bool:
    """An optional field of ``node`` with no type (``{}``, a description only): a copy
    of ``node`` leaves it out, as it leaves out fields it does not declare. (A
    required one cannot be left out: the copy is refused, SG106.)"""
    return node.properties[name].kind is Kind.ANY and name not in node.required


def _takes_empty(dst: SchemaNode) -> bool:
    if dst.kind is Kind.UNION:
        return any(_takes_empty(v) for v in dst.variants)
    return dst.kind in (Kind.MAP, Kind.ANY) or (dst.kind is Kind.OBJECT and not dst.required)


def _any_target(src: SchemaNode) -> str:
    return f"copying {src.describe()} into an untyped field would pass unknown content"


def kind_of(value: object) -> Kind:
    """The schema kind of a plain value (a ``map`` table entry)."""
    if isinstance(value, bool):
        return Kind.BOOLEAN
    if isinstance(value, int):
        return Kind.INTEGER
    if isinstance(value, float):
        return Kind.NUMBER
    return Kind.STRING


def scalar_fit(
    kind: Kind,
    src: SchemaNode | None,
    dst: SchemaNode,
    what: str = "",
    *,
    fmt: str | None = None,
    enum_checked: bool = False,
) -> str | None:
    """Fit of a scalar: ``src`` when the value is copied, else a treated value of ``kind``.

    A copied string may lack a declared format (the internal schema says what
    it holds); a treated string has the format its treatment declares in
    ``fmt`` (``mask_email`` of an e-mail address is an e-mail address), or none.
    """
    what = what or (src.describe() if src else kind.value)
    if dst.kind is Kind.ANY:
        return None
    if dst.kind is Kind.UNION:
        ok = any(scalar_fit(kind, src, v, fmt=fmt) is None for v in dst.variants)
        return None if ok else f"{what} fits no branch of {dst.describe()}"
    if kind is Kind.NULL:
        return None if dst.nullable else f"{what} but the external field is not nullable"
    same = kind is dst.kind
    widening = kind is Kind.INTEGER and dst.kind is Kind.NUMBER
    to_text = kind is Kind.INTEGER and dst.kind is Kind.STRING and not dst.format
    if not (same or widening or to_text):
        return f"{what} but the external field is {dst.describe()}"
    if src is None:
        wrong_format = fmt != dst.format
    else:
        wrong_format = bool(src.format) and src.format != dst.format
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
