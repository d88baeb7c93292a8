"""Strict request input (runtime/service/validate.py): duplicate member names, and the internal
schema that inbound values are held to. The attacks themselves: tests/security/."""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shimgen.runtime.service.problems import HTTPProblem
from shimgen.runtime.service.validate import (
    InternalFit,
    _repeats,
    has_duplicate_keys,
    parse_json,
    partial_schema,
)
from tests.service_support import OPENAPI

names = st.text(alphabet=st.sampled_from('ab:"\\ {}[],é'), max_size=4)
scalars = (
    st.none()
    | st.booleans()
    | st.integers(-(2**63), 2**63 - 1)
    | st.text(alphabet="x:\"{}'", max_size=5)
)
documents = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(names, inner, max_size=4),
    max_leaves=20,
)


@settings(max_examples=300, deadline=None)
@given(documents)
def test_no_document_serialized_by_a_parser_has_duplicates(doc: Any) -> None:
    body = orjson.dumps(doc)
    assert not has_duplicate_keys(body, orjson.loads(body))
    assert parse_json(body) == doc


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(names, scalars, min_size=1, max_size=4), st.data())
def test_any_repeated_name_is_found(obj: dict[str, Any], data: st.DataObject) -> None:
    name = data.draw(st.sampled_from(sorted(obj)))
    members = [orjson.dumps(k) + b":" + orjson.dumps(v) for k, v in obj.items()]
    members.insert(data.draw(st.integers(0, len(members))), orjson.dumps(name) + b": 0")
    body = b'{"outer": [1, {' + b", ".join(members) + b"}]}"
    assert has_duplicate_keys(body, orjson.loads(body))
    with pytest.raises(HTTPProblem) as info:
        parse_json(body)
    assert (info.value.status, info.value.slug) == (400, "duplicate-key")


# JSON text as a hostile client may write it: members as pairs (names may repeat), any ':'
# inside a string raw or escaped (\u003a, \u003A), other characters sometimes escaped, and
# white space around the separators.
_spaces = st.sampled_from(["", " ", "\n", "\t "])
_pairs_docs = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=4).map(lambda v: ("list", v))
        | st.lists(st.tuples(names, inner), max_size=4).map(lambda v: ("pairs", v))
    ),
    max_leaves=20,
)


def _write(doc: Any, draw: st.DrawFn) -> str:
    """``doc`` (scalars, ("list", items), ("pairs", [(name, value)])) as JSON text."""
    if isinstance(doc, tuple) and doc and doc[0] in ("list", "pairs"):
        kind, items = doc
        if kind == "list":
            inner = [_write(item, draw) for item in items]
            return "[" + ",".join(draw(_spaces) + i + draw(_spaces) for i in inner) + "]"
        members = [
            _string(name, draw) + draw(_spaces) + ":" + draw(_spaces) + _write(value, draw)
            for name, value in items
        ]
        return "{" + ",".join(draw(_spaces) + m for m in members) + "}"
    if isinstance(doc, str):
        return _string(doc, draw)
    return orjson.dumps(doc).decode()


def _string(text: str, draw: st.DrawFn) -> str:
    out = []
    for ch in text:
        if ch == ":":
            out.append(draw(st.sampled_from([":", "\\u003a", "\\u003A"])))
        elif ch in ('"', "\\") or draw(st.integers(0, 7)) == 0:
            out.append(f"\\u{ord(ch):04x}")
        else:
            out.append(ch)
    return '"' + "".join(out) + '"'


@settings(max_examples=500, deadline=None)
@given(_pairs_docs, st.data())
def test_the_fast_duplicate_check_agrees_with_the_exact_one(doc: Any, data: st.DataObject) -> None:
    """Whatever the escapes and white space, parse_json refuses exactly the bodies in which
    the stdlib parser sees a repeated name (``_repeats``), with and without a depth limit."""
    body = _write(doc, data.draw).encode()
    repeated = _repeats(body)
    assert has_duplicate_keys(body, orjson.loads(body)) == repeated
    for depth in (None, 64, 2):
        try:
            parse_json(body, max_depth=depth)
        except HTTPProblem as problem:
            assert problem.slug in ("duplicate-key", "too-deep"), problem.slug
            if problem.slug == "duplicate-key":
                assert repeated
            continue
        assert not repeated


def test_deep_body_with_colons_is_400_never_a_recursion_error() -> None:
    body = b"[" * 1000 + b'{"a": "x:y"}' + b"]" * 1000
    with pytest.raises(HTTPProblem) as info:
        parse_json(body)
    assert info.value.status == 400
    with pytest.raises(HTTPProblem) as limited:
        parse_json(body, max_depth=32)
    assert limited.value.slug == "too-deep"


def test_partial_schema_keeps_value_rules_and_drops_whole_object_rules() -> None:
    schema = {
        "type": "object",
        "required": ["required"],
        "minProperties": 2,
        "properties": {"required": {"type": "string", "format": "uuid", "maxLength": 36}},
        "oneOf": [{"required": ["a"]}, {"required": ["b"]}],
        "not": {"required": ["c"]},
    }
    assert partial_schema(schema) == {
        "type": "object",
        "properties": {"required": {"type": "string", "format": "uuid", "maxLength": 36}},
        "allOf": [{"anyOf": [{}, {}]}],
    }


def test_internal_fit_asserts_formats_and_points_at_external_fields() -> None:
    fit = InternalFit(
        OPENAPI, ((("id",), ("customerId",)), (("cards", "[]", "number"), ("pay", "[]", "last4")))
    )
    assert fit.problems({"id": "3f6c2a1e-8b4d-4c59-9a1f-2d7e6b0c4a11", "status": "A"}) == []
    assert fit.problems({"name": {"given": "only the given name"}}) == []  # partial: no required
    [problem] = fit.problems({"id": "../../admin"})
    assert (problem.pointer, problem.message) == ("/customerId", "format: not a valid uuid")
    assert fit.external_pointer("/cards/3/number") == "/pay/3/last4"
    assert fit.external_pointer("/risk_score") == "/"  # maps to nothing the caller sent
    [status] = fit.problems({"status": "Z"})
    assert status.pointer == "/"
