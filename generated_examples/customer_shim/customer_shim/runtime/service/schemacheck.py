"""Schema validation of records, the service's and ``shimgen translate``'s alike.

Schemas come from the package's ``openapi.json`` (``#/components/schemas/<Name>``)
and are compiled once, at start, by jsonschema-rs, so a record pays one native
``is_valid`` call on the happy path and the error walk only when something is
wrong. No web framework here: ``shimgen translate`` imports this module from the
rendered package to validate offline exactly as the service does online.

Error messages name the failing JSON Schema keyword and schema facts (expected
types, limits, patterns), never the offending value: jsonschema-rs' own
messages quote the instance, so they are never used.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from itertools import islice
from typing import Any, Final

import jsonschema_rs
from jsonschema_rs import ValidationError
from jsonschema_rs import ValidationErrorKind as K

from ..core.errors import Problem

__all__ = [
    "INT_FORMATS",
    "MAX_ERRORS",
    "SchemaValidator",
    "error_problems",
    "escape_token",
    "integer_formats_as_bounds",
    "iter_problems",
]

MAX_ERRORS: Final = 100
"""Problems listed per record or batch; a hostile body cannot make the error list unbounded."""


def escape_token(token: str | int) -> str:
    return str(token).replace("~", "~0").replace("/", "~1")


def _pointer(prefix: str, path: list[str | int]) -> str:
    return prefix + "".join("/" + escape_token(t) for t in path) or "/"


def _message(kind: Any) -> str:
    """Keyword plus schema facts; never anything taken from the instance."""
    k = kind.name
    if isinstance(kind, K.Type):
        return f"{k}: expected {' or '.join(kind.types)}"
    if isinstance(kind, (K.Minimum, K.Maximum, K.ExclusiveMinimum, K.ExclusiveMaximum)):
        relation = {
            "minimum": "less than",
            "maximum": "greater than",
            "exclusiveMinimum": "not greater than",
            "exclusiveMaximum": "not less than",
        }.get(k, "outside")
        return f"{k}: {relation} {kind.limit}"
    if isinstance(kind, (K.MinLength, K.MaxLength)):
        return f"{k}: {'shorter' if k == 'minLength' else 'longer'} than {kind.limit} characters"
    if isinstance(kind, (K.MinItems, K.MaxItems)):
        return f"{k}: {'fewer' if k == 'minItems' else 'more'} than {kind.limit} items"
    if isinstance(kind, (K.MinProperties, K.MaxProperties)):
        return f"{k}: {'fewer' if k == 'minProperties' else 'more'} than {kind.limit} properties"
    if isinstance(kind, K.Pattern):
        return f"{k}: does not match the pattern {kind.pattern}"
    if isinstance(kind, K.Format):
        return f"{k}: not a valid {kind.format}"
    if isinstance(kind, K.MultipleOf):
        return f"{k}: not a multiple of {kind.multiple_of}"
    fixed = {
        "enum": "not one of the allowed values",
        "const": "not the required constant value",
        "anyOf": "matches none of the allowed alternatives",
        "oneOf": "must match exactly one of the alternatives",
        "not": "matches a schema it must not match",
        "uniqueItems": "items are not unique",
        "contains": "no item matches the required schema",
        "falseSchema": "no value is allowed here",
        "propertyNames": "a property name is not allowed",
    }
    return f"{k}: {fixed.get(k, 'not valid')}"


INT_FORMATS: Final = {"int32": (-(2**31), 2**31 - 1), "int64": (-(2**63), 2**63 - 1)}
"""The ranges of OpenAPI's integer formats (OAS 3.1, Data Types). JSON Schema treats
``format`` as an annotation, so each compiled schema carries them as
``minimum``/``maximum`` too, and a value outside its format is a 422 with a pointer."""


_DATA_KEYWORDS: Final = frozenset({"const", "default", "enum", "example", "examples"})


def integer_formats_as_bounds(schema: Any) -> Any:
    """A copy of ``schema`` where every ``format: int32|int64`` also bounds the value.

    An existing ``minimum``/``maximum`` is kept when it is tighter. Other
    keywords and formats are left as they are, and data (``enum``, ``const``,
    ``default``, examples) is never rewritten.
    """
    if isinstance(schema, list):
        return [integer_formats_as_bounds(item) for item in schema]
    if not isinstance(schema, Mapping):
        return schema
    out = {
        key: value if key in _DATA_KEYWORDS else integer_formats_as_bounds(value)
        for key, value in schema.items()
    }
    bounds = INT_FORMATS.get(out["format"]) if isinstance(out.get("format"), str) else None
    if bounds is not None:
        low, high = bounds
        minimum, maximum = out.get("minimum"), out.get("maximum")
        if not isinstance(minimum, (int, float)) or isinstance(minimum, bool) or minimum < low:
            out["minimum"] = low
        if not isinstance(maximum, (int, float)) or isinstance(maximum, bool) or maximum > high:
            out["maximum"] = high
    return out


class SchemaValidator:
    """One compiled schema from ``openapi["components"]["schemas"][name]``.

    Compiling at start-up means a broken ``openapi.json`` stops the shim
    before it serves traffic, and requests never pay for compilation.
    """

    __slots__ = ("_is_valid", "_validator", "name")

    def __init__(self, openapi: Mapping[str, Any], name: str) -> None:
        components = openapi.get("components")
        schemas = components.get("schemas") if isinstance(components, Mapping) else None
        if not isinstance(schemas, Mapping) or name not in schemas:
            raise ValueError(f"openapi.json has no components.schemas.{name}")
        components = integer_formats_as_bounds(components)
        document = {"$ref": f"#/components/schemas/{name}", "components": components}
        try:
            self._validator = jsonschema_rs.validator_for(document)
        except (ValueError, jsonschema_rs.ReferencingError) as exc:
            raise ValueError(
                f"components.schemas.{name} in openapi.json cannot be compiled: {exc}"
            ) from None
        self._is_valid = self._validator.is_valid
        self.name = name

    def problems(self, instance: Any, prefix: str = "") -> list[Problem]:
        """Every problem found (up to :data:`MAX_ERRORS`), pointers prefixed with ``prefix``."""
        if self._is_valid(instance):
            return []
        return list(
            islice(iter_problems(self._validator.iter_errors(instance), prefix), MAX_ERRORS)
        )

    def problems_each(self, items: list[Any]) -> list[Problem]:
        """Problems of every item of a batch, pointers prefixed with the item index.

        Lazy across the batch too: the walk stops once :data:`MAX_ERRORS` are built.
        """
        is_valid, iter_errors = self._is_valid, self._validator.iter_errors

        def each() -> Iterator[Problem]:
            for i, item in enumerate(items):
                if not is_valid(item):
                    yield from iter_problems(iter_errors(item), f"/{i}")

        return list(islice(each(), MAX_ERRORS))


def iter_problems(errors: Iterable[ValidationError], prefix: str) -> Iterator[Problem]:
    """The problems of ``errors``, one at a time: a caller that keeps :data:`MAX_ERRORS`
    builds that many and stops (a body with 90,000 unknown members is one error whose
    expansion would otherwise build 90,000 problems to keep 100)."""
    for error in errors:
        yield from error_problems(error, prefix)


def error_problems(error: ValidationError, prefix: str) -> Iterator[Problem]:
    """The problems of one validation error, lazily (see :func:`iter_problems`)."""
    kind = error.kind
    path = list(error.instance_path)
    if isinstance(kind, K.Required):
        # Point at the missing member; its name comes from the schema.
        yield Problem(_pointer(prefix, [*path, kind.property]), "required: missing")
    elif isinstance(kind, (K.AdditionalProperties, K.UnevaluatedProperties)):
        # One problem per member the caller may not send, like the translator's guard.
        message = f"{kind.name}: this field may not be sent"
        for name in kind.unexpected:
            yield Problem(_pointer(prefix, [*path, name]), message)
    else:
        yield Problem(_pointer(prefix, path), _message(kind))
