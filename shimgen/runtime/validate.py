"""Request bodies: bounded reading, JSON parsing, nesting depth and schema validation.

The checks run in the order of the service contract and each fails with its own
status: body over the size limit 413, not JSON 400, nested too deep 400, not
valid against the schema 422. Schemas come from the package's ``openapi.json``
(``#/components/schemas/<Name>``) and are compiled once, at app start, by
jsonschema-rs, so a request pays one native ``is_valid`` call on the happy path
and the error walk only when something is wrong.

Error messages name the failing JSON Schema keyword and schema facts (expected
types, limits, patterns), never the offending value: jsonschema-rs' own
messages quote the instance, so they are never used.
"""

from __future__ import annotations

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
    "MAX_ERRORS",
    "SchemaValidator",
    "check_depth",
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


def parse_json(body: bytes) -> Any:
    """Parse with orjson; a 400 names the line and column, never the text around it."""
    if not body:
        raise HTTPProblem(400, "the request body is empty; send a JSON document", slug="bad-json")
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise HTTPProblem(
            400,
            f"the request body is not valid JSON (line {exc.lineno}, column {exc.colno})",
            slug="bad-json",
            title="Malformed JSON",
        ) from None


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
        raise HTTPProblem(
            400,
            f"the JSON body nests deeper than {max_depth} levels",
            slug="too-deep",
            title="JSON nested too deeply",
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
