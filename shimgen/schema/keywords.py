"""What individual JSON Schema keywords mean for the model, without any graph.

Pure functions over plain JSON values, kept apart from the graph builder in
``shimgen.schema.loader`` so that the rules (which siblings make a ``$ref``
more than a reference, which ``anyOf`` branch only says "or null", how types
intersect) can be read, and changed, in one place.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

from shimgen.schema.model import Kind, Limits

TYPE_KINDS: dict[str, Kind] = {
    "object": Kind.OBJECT,
    "array": Kind.ARRAY,
    "string": Kind.STRING,
    "integer": Kind.INTEGER,
    "number": Kind.NUMBER,
    "boolean": Kind.BOOLEAN,
    "null": Kind.NULL,
}

SHAPE_KEYS = frozenset(
    {
        "type",
        "properties",
        "items",
        "prefixItems",
        "additionalProperties",
        "patternProperties",
        "allOf",
        "anyOf",
        "oneOf",
        "enum",
        "const",
        "format",
    }
)
"""Keywords that change the node we build. Everything else (description,
title, examples, validators such as maxLength or pattern) is either copied as
an annotation or does not concern a shim."""

FLAG_KEYS = ("nullable", "readOnly", "writeOnly")

Schema = dict[str, Any]


def alias_step(value: Any) -> Literal["$ref", "allOf"] | None:
    """How a schema that is only another schema under a new label reaches it.

    ``"$ref"``: a ``$ref`` whose siblings do not change the model (description,
    title, examples, validators). ``"allOf"``: ``allOf`` with a single branch
    and nothing else that matters, the OpenAPI 3.0 way to put a description on
    a ref. Either way the schema *is* its target, and the loader returns the
    target node itself rather than a decorated copy: that keeps node identity,
    which is how walks recognise recursion. (So a sibling description is
    dropped in favour of the target's; FHIR puts one on every ref.)
    """
    if not isinstance(value, dict):
        return None
    if isinstance(value.get("x-classification"), str) or any(
        value.get(f) is True for f in FLAG_KEYS
    ):
        return None
    shape = [k for k in value if k in SHAPE_KEYS]
    if "$ref" in value:
        return "$ref" if not shape else None
    branches = value.get("allOf")
    if shape == ["allOf"] and isinstance(branches, list) and len(branches) == 1:
        return "allOf"
    return None


def branch_role(value: Any) -> Literal["null", "noise", "real"]:
    """What an ``anyOf``/``oneOf`` branch contributes.

    ``null``: it only says "or null" (``{type: null}``, ``{nullable: true}``,
    ``{enum: [null]}``, ``{const: null}``). ``noise``: a validator that adds
    no shape, like ``{required: [email]}`` or ``{}``; ``oneOf`` over such
    branches is a rule about which fields must be present, not a union.
    ``real``: a schema with a shape of its own.
    """
    if not isinstance(value, dict):
        return "noise"
    t = value.get("type")
    if t == "null" or t == ["null"]:
        return "null"
    if ("const" in value and value["const"] is None) or value.get("enum") == [None]:
        return "null"
    if "$ref" in value or any(k in value for k in SHAPE_KEYS):
        return "real"
    return "null" if value.get("nullable") is True else "noise"


def enum_values(schema: Schema) -> list[Any] | None:
    """``enum`` as a list, ``const`` as a one-value list, else None."""
    if "const" in schema:
        return [schema["const"]]
    values = schema.get("enum")
    return values if isinstance(values, list) else None


def allows_null(schema: Schema) -> bool | None:
    """Whether a schema that says ``type`` lets null through; None if it says no type."""
    t = schema.get("type")
    if t is None:
        return None
    return t == "null" or (isinstance(t, list) and "null" in t) or schema.get("nullable") is True


def kinds(schemas: Sequence[Schema]) -> list[Kind] | None:
    """The non-null kinds all ``schemas`` (an allOf) allow, in the first ``type``'s
    order; None if none says ``type``; ``[]`` if only null is allowed."""
    result: list[str] | None = None
    for schema in schemas:
        t = schema.get("type")
        if isinstance(t, str):
            names = [t]
        elif isinstance(t, list):
            names = [x for x in t if isinstance(x, str)]
        else:
            continue
        names = [n for n in names if n != "null" and n in TYPE_KINDS]
        if result is None:
            result = names
            continue
        merged = [n for n in result if n in names]
        if "integer" not in merged and {"integer", "number"} <= {*result, *names}:
            merged.append("integer")  # number and integer intersect in integer
        # An impossible intersection is an authoring slip; keep the first
        # type rather than make the field unusable.
        result = merged or result
    return None if result is None else [TYPE_KINDS[n] for n in result]


def infer_kind(schemas: Sequence[Schema]) -> Kind:
    """The kind of a schema without ``type``, from the keywords it uses."""
    keys: set[str] = set()
    for schema in schemas:
        keys.update(schema)
    if keys & {"properties", "additionalProperties", "patternProperties"}:
        return Kind.OBJECT
    if keys & {"items", "prefixItems"}:
        return Kind.ARRAY
    for schema in schemas:
        values = enum_values(schema)
        if values is not None:
            return enum_kind([v for v in values if v is not None])
    if any(isinstance(s.get("format"), str) for s in schemas):
        return Kind.STRING
    return Kind.ANY


def enum_kind(values: list[Any]) -> Kind:
    if not values:
        return Kind.NULL
    if all(isinstance(v, str) for v in values):
        return Kind.STRING
    if all(isinstance(v, bool) for v in values):
        return Kind.BOOLEAN
    if all(isinstance(v, int) and not isinstance(v, bool) for v in values):
        return Kind.INTEGER
    if all(isinstance(v, int | float) and not isinstance(v, bool) for v in values):
        return Kind.NUMBER
    return Kind.ANY


def limits(schema: Schema) -> Limits:
    """The validation bounds one schema states (lengths, item counts, numeric range, step).

    ``exclusiveMinimum``/``exclusiveMaximum`` are read in both spellings: a number
    (JSON Schema 2019+, OpenAPI 3.1) is a bound of its own; ``true`` (draft 4,
    OpenAPI 3.0) makes ``minimum``/``maximum`` exclusive. Values of the wrong type
    are ignored, as the validators ignore them.
    """
    found = Limits(
        min_length=_count(schema.get("minLength")),
        max_length=_count(schema.get("maxLength"), zero=True),
        min_items=_count(schema.get("minItems")),
        max_items=_count(schema.get("maxItems"), zero=True),
        minimum=_number(schema.get("minimum")),
        exclusive_minimum=schema.get("exclusiveMinimum") is True
        and _number(schema.get("minimum")) is not None,
        maximum=_number(schema.get("maximum")),
        exclusive_maximum=schema.get("exclusiveMaximum") is True
        and _number(schema.get("maximum")) is not None,
        multiple_of=_positive(schema.get("multipleOf")),
    )
    low, high = _number(schema.get("exclusiveMinimum")), _number(schema.get("exclusiveMaximum"))
    if low is not None:
        found = found.meet(Limits(minimum=low, exclusive_minimum=True))
    if high is not None:
        found = found.meet(Limits(maximum=high, exclusive_maximum=True))
    return found


def _number(value: Any) -> int | float | None:
    if isinstance(value, bool) or not isinstance(value, int | float) or value != value:
        return None
    return value if value not in (float("inf"), float("-inf")) else None


def _count(value: Any, zero: bool = False) -> int | None:
    """A length or item count; ``minLength: 0`` bounds nothing (``maxLength: 0`` does)."""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        return None
    return value if value or zero else None


def _positive(value: Any) -> int | float | None:
    number = _number(value)
    return number if number is not None and number > 0 else None
