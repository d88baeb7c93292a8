"""Request bodies: bounded reading, JSON parsing, nesting depth and schema validation.

The checks run in the order of the service contract and each fails with its own
status: body over the size limit 413, not JSON 400, an object naming a member
twice 400 (I-JSON), nested too deep 400, not valid against the schema 422.
Schema validation itself is :mod:`.schemacheck` (no web framework in it, so
``shimgen translate`` runs the very same checks offline); it is re-exported
here for the service.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from itertools import islice
from typing import Any

import jsonschema_rs
import orjson
from starlette.requests import ClientDisconnect
from starlette.types import Receive

from ..core.errors import Problem
from .problems import HTTPProblem
from .schemacheck import (
    INT_FORMATS,
    MAX_ERRORS,
    SchemaValidator,
    escape_token,
    integer_formats_as_bounds,
    iter_problems,
)

__all__ = [
    "INT_FORMATS",
    "MAX_ERRORS",
    "SchemaValidator",
    "check_depth",
    "deep_or_repeated",
    "has_duplicate_keys",
    "integer_formats_as_bounds",
    "parse_json",
    "read_body",
    "too_deep",
]


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
    # Nesting deeper than max_depth needs more than max_depth brackets: counted in C, so
    # most bodies skip the walk. Depth first: the exact duplicate check may recurse.
    if max_depth is not None and body.count(b"[") + body.count(b"{") > max_depth:
        check_depth(document, max_depth)
    if has_duplicate_keys(body, document):
        raise HTTPProblem(
            400,
            "the request body has an object with the same member name twice; "
            "send each name once (I-JSON, RFC 7493)",
            slug="duplicate-key",
            title="Duplicate member name",
        )
    return document


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
    it). :func:`_may_repeat` rules most bodies out in C; for the rest (colons
    inside strings, or a repeat) :func:`_repeats` decides.
    """
    cls = document.__class__
    if cls is not dict and cls is not list:
        return False
    return _may_repeat(body, document) and _repeats(body)


_COLON_ESCAPE = b"\\u003"  # the start of \u003a and \u003A, the escapes that write a ':'


def _may_repeat(body: bytes, document: Any) -> bool:
    """False only if no object in the JSON text ``body`` (parsed as ``document``) repeats a name.

    Counted in C, without walking ``document``. Each member in the text has one ``:``
    outside strings; a ``:`` inside a string is written raw or escaped (``\\u003a``).
    So the body's ``:`` plus its ``\\u003`` count is at least the members in the text
    plus the colons in its strings. orjson writing ``document`` back gives one ``:`` per
    member kept and every string's colons raw; a repeated name is kept once. The two
    counts are equal only when no name repeats (and no escape hid a colon): otherwise
    :func:`_repeats` decides.
    """
    try:
        written = orjson.dumps(document)
    except orjson.JSONEncodeError:  # not expected of what orjson parsed: let the exact check decide
        return True
    return body.count(b":") + body.count(_COLON_ESCAPE) != written.count(b":")


def deep_or_repeated(body: bytes, document: Any, max_depth: int) -> bool:
    """Whether ``document`` (parsed from ``body``) nests deeper than ``max_depth`` or repeats a name.

    For JSON the shim did not parse as a request (an upstream answer): the same
    depth limit and I-JSON rule as :func:`parse_json`, so an answer with two
    ``id`` members cannot pass a check that reads one.
    """
    return too_deep(document, max_depth) or has_duplicate_keys(body, document)


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
        kept = islice(iter_problems(self._validator.iter_errors(internal), ""), MAX_ERRORS)
        return [Problem(self.external_pointer(p.pointer), p.message) for p in kept]

    def external_pointer(self, pointer: str) -> str:
        """The external field's pointer for an internal one (``/`` if it maps to none)."""
        tokens = [t.replace("~1", "/").replace("~0", "~") for t in pointer.split("/")[1:]]
        # an array index is ASCII digits (RFC 6901); "²".isdigit() is True but names a key
        segments = tuple("[]" if t.isascii() and t.isdigit() else t for t in tokens)
        indices = [t for t in tokens if t.isascii() and t.isdigit()]
        external = self._paths.get(segments)
        if external is None or external.count("[]") != len(indices):
            return "/"
        out: list[str] = []
        it = iter(indices)
        for seg in external:
            out.append(next(it) if seg == "[]" else escape_token(seg))
        return "/" + "/".join(out)


def unfit_problem(problems: list[Problem], *, internal: bool) -> HTTPProblem:
    """The 422 for internal values (detokenized or mapped back) that the internal schema refuses.

    An internal caller is told the rule (``format: not a valid uuid``); an external one
    only which field, since the internal schema's rules (formats, patterns, lengths)
    are the internal data model, which the external OpenAPI view keeps inside too.
    """
    if not internal:
        problems = [Problem(p.pointer, "does not fit the internal field") for p in problems]
    return HTTPProblem(
        422,
        "a value sent does not fit the internal schema once translated; nothing was forwarded",
        slug="internal-schema-violation",
        title="Value does not fit",
        errors=problems,
    )
