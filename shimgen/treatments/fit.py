"""Does a value fit an external type? The structural rules every treatment builds on.

A treatment answers "what do I yield" (kind and format); these functions
answer "does that fit the external field". ``pass`` compares two schemas
structurally (:func:`pass_fit`); every other treatment checks its declared
output with :func:`scalar_fit`. Answers are a reason string (for the
finding) or None.
"""

from __future__ import annotations

import functools
import json
import math
from collections.abc import Iterable
from dataclasses import dataclass
from fractions import Fraction
from typing import Any
from weakref import WeakKeyDictionary

import jsonschema_rs

from shimgen.check import unions
from shimgen.schema.model import NO_LIMITS, SCALARS, Kind, Limits, SchemaNode

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
        return _count_fit(src.limits, dst.limits) or pass_fit(src.items, dst.items, stack)
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
    promise: Promise | None = None,
) -> str | None:
    """Fit of a scalar: ``src`` when the value is copied, else a treated value of ``kind``.

    A copied string may lack a declared format (the internal schema says what
    it holds); a treated string has the format its treatment declares in
    ``fmt`` (``mask_email`` of an e-mail address is an e-mail address), or none.
    The external field's value constraints (pattern, lengths, range, step) must
    be promised: by the internal field when copied (:func:`copied`), by the
    treatment's ``promise`` otherwise (None: the treatment promises nothing, and
    those constraints are left to run time; see :class:`Promise`).
    """
    what = what or (src.describe() if src else kind.value)
    if dst.kind is Kind.ANY:
        return None
    if dst.kind is Kind.UNION:
        ok = any(scalar_fit(kind, src, v, fmt=fmt, promise=promise) is None for v in dst.variants)
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
        extra = not_in(src.enum, dst.enum)
        if extra:
            return f"internal value {extra[0]!r} is not in the external enum; use `map:`"
    elif dst.enum is not None and src is None and not enum_checked:
        return f"{what} but the external field is an enum"
    if src is not None:
        promise = copied(src, as_text=to_text)
    out = Kind.STRING if to_text else kind
    return None if promise is None else constraint_fit(promise, dst, out)


def not_in(values: Iterable[Any], allowed: Iterable[Any]) -> list[Any]:
    """The ``values`` that ``v not in allowed`` finds, in linear time: a schema's enum
    may hold 100,000 values, and a scan of one tuple per value took 96 s (red-team,
    sixth pass). Unhashable values (objects, arrays) are compared one by one."""
    hashed: set[Any] = set()
    others: list[Any] = []
    for v in allowed:
        try:
            hashed.add(v)
        except TypeError:
            others.append(v)
    out = []
    for v in values:
        try:
            found = v in hashed
        except TypeError:
            found = v in others
        if not found:
            out.append(v)
    return out


# -- value constraints: pattern, lengths, range, step ------------------------------------


@dataclass(frozen=True)
class Promise:
    """What every value reaching the external field is known to satisfy.

    A copied value promises what its internal schema says and nothing more
    (``complete``): an external ``maxLength`` the internal field does not state
    is not promised, so the copy is refused (SG106). A treatment promises only
    what it knows of every output (``last4``: at most four characters): a bound
    it states must lie within the external one, and what it does not state is
    not checked (``complete`` False) but left to the service's validation of the
    external record at run time (422). ``values``: every value is one of these
    (an enum, a ``map`` table, a ``redact`` text), each checked with the
    validator the service runs (jsonschema-rs, ECMA 262 patterns).
    """

    values: tuple[Any, ...] | None = None
    pattern: str | None = None
    limits: Limits = NO_LIMITS
    integer: bool = False  # whole numbers only: exclusive bounds narrow to the next integer
    complete: bool = True
    by: str = "the internal field"  # who promises, for messages


def lengths(shortest: int | None, longest: int | None) -> Promise:
    """A treatment's promise of its output lengths and nothing else (its pattern is not checked)."""
    return Promise(limits=Limits(min_length=shortest, max_length=longest), complete=False)


INT_RANGES = {"int32": (-(2**31), 2**31 - 1), "int64": (-(2**63), 2**63 - 1)}
"""OpenAPI's integer formats as the service enforces them (as ``minimum``/``maximum``;
``shimgen.runtime.service.schemacheck.INT_FORMATS``). An internal integer without
format or bounds is taken to be an int64: the range JSON integers have in practice."""


def copied(src: SchemaNode, as_text: bool = False) -> Promise:
    """What a copy of the scalar ``src`` promises (``as_text``: an integer sent as its digits)."""
    integer = src.kind is Kind.INTEGER
    limits = src.limits
    if integer:
        low, high = INT_RANGES.get(src.format or "", INT_RANGES["int64"])
        limits = limits.meet(Limits(minimum=low, maximum=high))
    values = src.enum
    if as_text:
        values = None if values is None else tuple(str(v) for v in values)
        return Promise(values, limits=_digits(limits))
    return Promise(values, src.pattern, limits, integer)


def _digits(limits: Limits) -> Limits:
    """The lengths of an integer in ``limits`` written in decimal (``str(v)``)."""
    low, high = _closed(limits, True)
    if low is None or high is None:
        return Limits()
    lengths = [len(str(low)), len(str(high))]
    shortest = 1 if low <= 0 <= high else min(lengths)
    return Limits(min_length=shortest if shortest > 1 else None, max_length=max(lengths))


def _closed(limits: Limits, integer: bool) -> tuple[Any, Any]:
    """Integer bounds as inclusive whole numbers; other bounds as they are."""
    low, high = limits.minimum, limits.maximum
    if integer and low is not None:
        low = math.floor(low) + 1 if limits.exclusive_minimum else math.ceil(low)
    if integer and high is not None:
        high = math.ceil(high) - 1 if limits.exclusive_maximum else math.floor(high)
    return low, high


def constraint_fit(have: Promise, dst: SchemaNode, kind: Kind) -> str | None:
    """Why a value of ``kind`` with ``have`` may break one of ``dst``'s value constraints.

    Only the keywords that apply to ``kind`` count, as in the validator: a
    pattern or a length to strings, a range or a step to numbers.
    """
    need = dst.limits
    if kind in (Kind.INTEGER, Kind.NUMBER) and dst.format in INT_RANGES:
        low, high = INT_RANGES[str(dst.format)]
        need = need.meet(Limits(minimum=low, maximum=high))
    if have.values is not None:
        return _values_fit(have.values, dst.pattern, need)
    if kind is Kind.STRING:
        return _pattern_fit(have, dst.pattern) or _length_fit(have, need)
    if kind in (Kind.INTEGER, Kind.NUMBER):
        return _range_fit(have, need) or _step_fit(have, need)
    return None


def _pattern_fit(have: Promise, pattern: str | None) -> str | None:
    """Regex inclusion is undecidable in general: only the very same pattern promises it."""
    if pattern is None or have.pattern == pattern or not have.complete:
        return None
    theirs = f" (its pattern is {have.pattern})" if have.pattern else ""
    return (
        f"the external field requires pattern {pattern}, which {have.by} does not promise"
        f"{theirs}; treat the value (e.g. last4, mask, hash), give the internal field "
        "an enum or the same pattern, or relax the external pattern"
    )


def _values_fit(values: tuple[Any, ...], pattern: str | None, need: Limits) -> str | None:
    schema = _constraints_schema(pattern, need)
    if schema is None:
        return None
    for value in values:
        try:
            ok = _validator(schema).is_valid(value)
        except ValueError:  # a pattern the validator cannot compile: the service cannot either
            return f"the external pattern {pattern} does not compile"
        if not ok:
            return (
                f"the value {value!r} breaks the external field's {_stated(pattern, need)}; "
                "change the value or relax the external field"
            )
    return None


_KEYWORDS = {
    "min_length": "minLength",
    "max_length": "maxLength",
    "minimum": "minimum",
    "maximum": "maximum",
    "multiple_of": "multipleOf",
}


def _constraints_schema(pattern: str | None, need: Limits) -> str | None:
    """The external field's value constraints as a JSON Schema text (the validator cache key)."""
    schema: dict[str, Any] = {"pattern": pattern} if pattern is not None else {}
    for attr, keyword in _KEYWORDS.items():
        if getattr(need, attr) is not None:
            schema[keyword] = getattr(need, attr)
    if need.exclusive_minimum and "minimum" in schema:
        schema["exclusiveMinimum"] = schema.pop("minimum")
    if need.exclusive_maximum and "maximum" in schema:
        schema["exclusiveMaximum"] = schema.pop("maximum")
    return json.dumps(schema, sort_keys=True) if schema else None


@functools.lru_cache(maxsize=1024)
def _validator(schema: str) -> Any:
    return jsonschema_rs.validator_for(json.loads(schema))


def _stated(pattern: str | None, need: Limits) -> str:
    parts = [f"pattern {pattern}"] if pattern else []
    schema = _constraints_schema(None, need)
    parts += [f"{k} {v}" for k, v in json.loads(schema).items()] if schema else []
    return ", ".join(parts)


def _short(keyword: str, need: Any, have: Promise, stated: Any, advice: str = "") -> str:
    """An external bound ``have`` does not keep; ``stated``: the bound it keeps instead."""
    said = f"{have.by} keeps {stated}" if stated is not None else f"{have.by} promises none"
    if not advice:
        advice = "bound the internal field as tightly, treat the value"
        if not have.complete:
            advice = "pick another treatment"
    return f"the external field requires {keyword} {need} but {said}; {advice} or relax the external {keyword}"


def _length_fit(have: Promise, need: Limits) -> str | None:
    got = have.limits
    if need.max_length is not None:
        if got.max_length is not None and got.max_length > need.max_length:
            return _short("maxLength", need.max_length, have, f"maxLength {got.max_length}")
        if got.max_length is None and have.complete:
            return _short("maxLength", need.max_length, have, None)
    if need.min_length is not None and (got.min_length or 0) < need.min_length:
        if got.min_length is not None:
            return _short("minLength", need.min_length, have, f"minLength {got.min_length}")
        if have.complete:
            return _short("minLength", need.min_length, have, None)
    return None


def _count_fit(got: Limits, need: Limits) -> str | None:
    """A copied array's item counts: the internal bounds within the external ones."""
    have = Promise(limits=got)
    if need.max_items is not None and (got.max_items is None or got.max_items > need.max_items):
        stated = None if got.max_items is None else f"maxItems {got.max_items}"
        return _short("maxItems", need.max_items, have, stated)
    if need.min_items is not None and (got.min_items or 0) < need.min_items:
        stated = None if got.min_items is None else f"minItems {got.min_items}"
        return _short("minItems", need.min_items, have, stated)
    return None


def _range_fit(have: Promise, need: Limits) -> str | None:
    low, high = _closed(have.limits, have.integer)
    low_x = have.limits.exclusive_minimum and not have.integer
    high_x = have.limits.exclusive_maximum and not have.integer
    if need.minimum is not None:
        keyword = "exclusiveMinimum" if need.exclusive_minimum else "minimum"
        if low is None:
            if have.complete:
                return _short(keyword, need.minimum, have, None)
        elif low < need.minimum or (low == need.minimum and need.exclusive_minimum and not low_x):
            return _short(keyword, need.minimum, have, f"values {'>' if low_x else '>='} {low}")
    if need.maximum is not None:
        keyword = "exclusiveMaximum" if need.exclusive_maximum else "maximum"
        if high is None:
            if have.complete:
                return _short(keyword, need.maximum, have, None)
        elif high > need.maximum or (
            high == need.maximum and need.exclusive_maximum and not high_x
        ):
            return _short(keyword, need.maximum, have, f"values {'<' if high_x else '<='} {high}")
    return None


def _step_fit(have: Promise, need: Limits) -> str | None:
    if need.multiple_of is None:
        return None
    step = have.limits.multiple_of
    if step is None and have.integer:
        step = 1  # whole numbers are multiples of 1, of 0.5, of 0.25 ...
    if step is None:
        return _short("multipleOf", need.multiple_of, have, None) if have.complete else None
    if (Fraction(str(step)) / Fraction(str(need.multiple_of))).denominator != 1:
        return _short("multipleOf", need.multiple_of, have, f"multipleOf {step}")
    return None
