"""Request bodies: bounded reading, JSON parsing, nesting depth and schema validation.

The checks run in the order of the service contract and each fails with its own
status: body over the size limit 413, not JSON 400, an object naming a member
twice 400 (I-JSON), nested too deep 400, not valid against the schema 422. Schemas come from the package's ``openapi.json``
(``#/components/schemas/<Name>``) and are compiled once, at app start, by
jsonschema-rs, so a request pays one native ``is_valid`` call on the happy path
and the error walk only when something is wrong.

The integer formats of OpenAPI (``int32``, ``int64``) are ranges, but JSON
Schema treats ``format`` as an annotation; so each compiled schema carries
them as ``minimum``/``maximum`` too (:func:`integer_formats_as_bounds`), and a
value outside its format is a 422 with a pointer like any other.

Error messages name the failing JSON Schema keyword and schema facts (expected
types, limits, patterns), never the offending value: jsonschema-rs' own
messages quote the instance, so they are never used.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, Final

import jsonschema_rs
import orjson
from jsonschema_rs import ValidationError
from jsonschema_rs import ValidationErrorKind as K
from starlette.requests import ClientDisconnect
from starlette.types import Receive

from .errors import Problem
from .problems import HTTPProblem

__all__ = [
    "INT_FORMATS",
    "MAX_ERRORS",
    "SchemaValidator",
    "check_depth",
    "has_duplicate_keys",
    "integer_formats_as_bounds",
    "parse_json",
    "read_body",
    "too_deep",
]

MAX_ERRORS: Final = 100
"""Problems listed per response; a hostile body cannot make the error list unbounded."""


async def read_body(receive: Receive, limit: int) -> bytes:
    """The whole body, refusing (413) as soon as it grows past ``limit`` bytes.

    ``Content-Length`` is checked before this is called; counting here covers
    chunked bodies and clients whose ``Content-Length`` understates the body.
    """
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] != "http.request":
            raise ClientDisconnect()
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise HTTPProblem(413, f"the request body is larger than {limit} bytes")
        if chunk:
            chunks.append(chunk)
        if not message.get("more_body", False):
            return chunks[0] if len(chunks) == 1 else b"".join(chunks)


def parse_json(body: bytes, max_depth: int | None = None) -> Any:
    """Parse with orjson; a 400 names the line and column, never the text around it.

    With ``max_depth``, nesting deeper is a 400 too, checked before the
    duplicate-name check (which may recurse) runs.
    """
    if not body:
        raise HTTPProblem(400, "the request body is empty; send a JSON document", slug="bad-json")
    try:
        document = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise HTTPProblem(
            400,
            f"the request body is not valid JSON (line {exc.lineno}, column {exc.colno})",
            slug="bad-json",
            title="Malformed JSON",
        ) from None
    cls = document.__class__
    if cls is not dict and cls is not list:
        return document
    # Nesting deeper than max_depth needs more than max_depth brackets, and a member needs
    # a colon: counted in C, so most bodies need one walk (for both checks) or none.
    colons = body.count(b":")
    deep = max_depth is not None and body.count(b"[") + body.count(b"{") > max_depth
    if deep or colons:
        too_deep_, members = _shape(document, max_depth if deep else None)
        if too_deep_:
            raise _too_deep(max_depth or 0)
        if colons != members and _repeats(body):
            raise HTTPProblem(
                400,
                "the request body has an object with the same member name twice; "
                "send each name once (I-JSON, RFC 7493)",
                slug="duplicate-key",
                title="Duplicate member name",
            )
    return document


def _shape(document: Any, max_depth: int | None) -> tuple[bool, int]:
    """(nests deeper than ``max_depth``, members of all its objects): one iterative walk."""
    count = 0
    limit = max_depth if max_depth is not None else -1
    stack: list[tuple[Any, int]] = [(document, 1)]
    pop, push = stack.pop, stack.append
    while stack:
        node, depth = pop()
        if depth == limit + 1 and limit >= 0:
            return True, count
        if node.__class__ is dict:
            count += len(node)
            values: Any = node.values()
        else:
            values = node
        for child in values:
            c = child.__class__
            if c is dict or c is list:
                push((child, depth + 1))
    return False, count


class _Duplicate(Exception):
    pass


def _refuse_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out = dict(pairs)
    if len(out) != len(pairs):
        raise _Duplicate
    return out


def _repeats(body: bytes) -> bool:
    """The exact check: the stdlib parser, with a hook that sees every member of every object."""
    try:
        json.loads(body, object_pairs_hook=_refuse_duplicates)
    except _Duplicate:
        return True
    except RecursionError:  # only when no max_depth was checked first
        raise _too_deep(None) from None
    return False


def has_duplicate_keys(body: bytes, document: Any) -> bool:
    """Whether an object in the JSON text ``body`` (parsed as ``document``) repeats a name.

    orjson, like most parsers, keeps the last of a repeated name silently, and two
    parsers on one path could then see two different requests (RFC 7493 forbids
    it). Each member in the text has one ``:`` outside strings, and the parsed
    objects hold one member per distinct name; so when the body's ``:`` count (in
    C) equals the members parsed (one walk), nothing repeats. Otherwise (colons
    inside strings, or a repeat) :func:`_repeats` decides.
    """
    cls = document.__class__
    if cls is not dict and cls is not list:
        return False
    colons = body.count(b":")
    return colons != 0 and colons != _shape(document, None)[1] and _repeats(body)


def too_deep(document: Any, max_depth: int) -> bool:
    """Whether arrays/objects nest more than ``max_depth`` levels (the top one is level 1).

    Iterative on purpose: a recursive walk is what a deeply nested body is
    built to break, and the schema validator and translator recurse, so this
    runs before either of them.
    """
    cls = document.__class__
    if cls is not dict and cls is not list:
        return False
    stack: list[tuple[Any, int]] = [(document, 1)]
    pop, push = stack.pop, stack.append
    while stack:
        node, depth = pop()
        if depth > max_depth:
            return True
        for child in node.values() if node.__class__ is dict else node:
            c = child.__class__
            if c is dict or c is list:
                push((child, depth + 1))
    return False


def check_depth(document: Any, max_depth: int) -> None:
    """400 if ``document`` nests deeper than ``max_depth``."""
    if too_deep(document, max_depth):
        raise _too_deep(max_depth)


def _too_deep(max_depth: int | None) -> HTTPProblem:
    limit = f"deeper than {max_depth} levels" if max_depth else "too deeply"
    return HTTPProblem(
        400, f"the JSON body nests {limit}", slug="too-deep", title="JSON nested too deeply"
    )


def _esc(token: str | int) -> str:
    return str(token).replace("~", "~0").replace("/", "~1")


def _pointer(prefix: str, path: list[str | int]) -> str:
    return prefix + "".join("/" + _esc(t) for t in path) or "/"


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
"""The ranges of OpenAPI's integer formats (OAS 3.1, Data Types)."""


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
        found: list[Problem] = []
        for error in self._validator.iter_errors(instance):
            found.extend(_problems(error, prefix))
            if len(found) >= MAX_ERRORS:
                break
        return found[:MAX_ERRORS]

    def problems_each(self, items: list[Any]) -> list[Problem]:
        """Problems of every item of a batch, pointers prefixed with the item index."""
        found: list[Problem] = []
        is_valid = self._is_valid
        for i, item in enumerate(items):
            if not is_valid(item):
                found.extend(self.problems(item, f"/{i}"))
                if len(found) >= MAX_ERRORS:
                    return found[:MAX_ERRORS]
        return found


def _problems(error: ValidationError, prefix: str) -> list[Problem]:
    kind = error.kind
    path = list(error.instance_path)
    if isinstance(kind, K.Required):
        # Point at the missing member; its name comes from the schema.
        return [Problem(_pointer(prefix, [*path, kind.property]), "required: missing")]
    if isinstance(kind, (K.AdditionalProperties, K.UnevaluatedProperties)):
        # One problem per member the caller may not send, like the translator's guard.
        return [
            Problem(_pointer(prefix, [*path, name]), f"{kind.name}: this field may not be sent")
            for name in kind.unexpected
        ]
    return [Problem(_pointer(prefix, path), _message(kind))]


def validation_problem(problems: list[Problem], what: str) -> HTTPProblem:
    """The 422 for schema problems in ``what`` (e.g. ``"the request body"``)."""
    return HTTPProblem(
        422,
        f"{what} does not match its schema; see errors",
        slug="validation-failed",
        errors=problems,
    )


# -- internal values produced by inbound translation ------------------------------------

# Keywords that judge a whole object: a partial record (only the fields a caller may
# send) cannot be held to them. ``not``/``if`` are dropped too: with ``required``
# gone inside them they would change meaning, not just loosen.
_WHOLE_OBJECT = frozenset(
    ("required", "minProperties", "dependentRequired", "dependencies", "not", "if", "then", "else")
)
_NAMED = frozenset(("properties", "patternProperties", "$defs", "definitions", "dependentSchemas"))
_SCHEMA_LISTS = frozenset(("allOf", "anyOf", "oneOf", "prefixItems", "items"))
_SCHEMA_ONE = frozenset(
    ("items", "additionalProperties", "unevaluatedProperties", "unevaluatedItems", "contains",
     "propertyNames", "additionalItems")
)  # fmt: skip

Segments = tuple[str, ...]


def partial_schema(schema: Any) -> Any:
    """``schema`` loosened for partial records: every value check kept (type, format,
    pattern, length, enum, range), every whole-object rule dropped, ``oneOf`` as ``anyOf``
    (a partial record may fit several branches)."""
    if not isinstance(schema, dict):
        return schema
    out: dict[str, Any] = {}
    for key, value in schema.items():
        if key in _WHOLE_OBJECT:
            continue
        if key in _NAMED and isinstance(value, dict):
            out[key] = {name: partial_schema(s) for name, s in value.items()}
        elif key in _SCHEMA_LISTS and isinstance(value, list):
            branches = [partial_schema(s) for s in value]
            if key == "oneOf":
                out.setdefault("allOf", []).append({"anyOf": branches})
            elif key == "allOf":
                out.setdefault("allOf", []).extend(branches)
            else:
                out[key] = branches
        elif key in _SCHEMA_ONE:
            out[key] = partial_schema(value)
        else:
            out[key] = value
    return out


class InternalFit:
    """Internal values made by inbound translation, held to the *internal* schema.

    A token detokenizes to whatever internal value it was minted for; a caller who
    got a token minted for ``../../admin`` must not see that value reach the
    internal API. So every value ``to_internal`` produced (a request body's fields,
    a proxy route's path parameters) is checked against the internal schema's own
    rules for its field (type, ``format`` such as uuid, pattern, length, enum),
    with formats asserted. Problems point at the *external* field the caller sent
    (``paths`` maps internal field paths to external ones), never name a value.
    """

    __slots__ = ("_is_valid", "_paths", "_validator")

    def __init__(
        self, openapi: Mapping[str, Any], paths: tuple[tuple[Segments, Segments], ...] = ()
    ) -> None:
        components = openapi.get("components")
        schemas = components.get("schemas") if isinstance(components, Mapping) else None
        if not isinstance(schemas, Mapping) or "InternalRecord" not in schemas:
            raise ValueError("openapi.json has no components.schemas.InternalRecord")
        loose = {name: integer_formats_as_bounds(partial_schema(s)) for name, s in schemas.items()}
        document = {"$ref": "#/components/schemas/InternalRecord", "components": {"schemas": loose}}
        try:
            self._validator = jsonschema_rs.validator_for(document, validate_formats=True)
        except (ValueError, jsonschema_rs.ReferencingError) as exc:
            raise ValueError(
                f"the internal schema in openapi.json cannot be compiled: {exc}"
            ) from None
        self._is_valid = self._validator.is_valid
        self._paths = dict(paths)

    def problems(self, internal: Any) -> list[Problem]:
        """Problems of the internal values in ``internal``, pointing at external fields."""
        if self._is_valid(internal):
            return []
        found: list[Problem] = []
        for error in self._validator.iter_errors(internal):
            for problem in _problems(error, ""):
                found.append(Problem(self.external_pointer(problem.pointer), problem.message))
            if len(found) >= MAX_ERRORS:
                break
        return found[:MAX_ERRORS]

    def external_pointer(self, pointer: str) -> str:
        """The external field's pointer for an internal one (``/`` if it maps to none)."""
        tokens = [t.replace("~1", "/").replace("~0", "~") for t in pointer.split("/")[1:]]
        segments = tuple("[]" if t.isdigit() else t for t in tokens)
        indices = [t for t in tokens if t.isdigit()]
        external = self._paths.get(segments)
        if external is None or external.count("[]") != len(indices):
            return "/"
        out: list[str] = []
        it = iter(indices)
        for seg in external:
            out.append(next(it) if seg == "[]" else _esc(seg))
        return "/" + "/".join(out)


def unfit_problem(problems: list[Problem]) -> HTTPProblem:
    """The 422 for internal values (detokenized or mapped back) that the internal schema refuses."""
    return HTTPProblem(
        422,
        "a value sent does not fit the internal schema once translated; nothing was forwarded",
        slug="internal-schema-violation",
        title="Value does not fit",
        errors=problems,
    )
