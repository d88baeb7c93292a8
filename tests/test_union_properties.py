"""Property test of union copies (hypothesis).

A union schema is generated (2 to 4 object branches, told apart by an OpenAPI
discriminator, by a required tag field, or by the fields each branch
requires, plus an optional string branch), then random records valid under
one branch, with undeclared keys mixed in. Passing the union whole onto the
same schema must give exactly the record restricted to the declared fields of
the branch it matches, as a field, as array items and as map values.
"""

from __future__ import annotations

import json
import string
import tempfile
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from shimgen.check import check_mapping
from tests.expected import translator

MODES = ("discriminator", "tag", "structural")
OPTIONAL = {"x": {"type": "integer"}, "y": {"type": "string"}, "z": {"type": "boolean"}}
VALUES: dict[str, st.SearchStrategy[Any]] = {
    "integer": st.integers(-(10**6), 10**6),
    "string": st.text(string.printable, max_size=8),
    "boolean": st.booleans(),
}


@st.composite
def union_schemas(draw: st.DrawFn) -> dict[str, Any]:
    """A union of object branches ``B0..Bn`` with what tells them apart."""
    n = draw(st.integers(2, 4))
    mode = draw(st.sampled_from(MODES))
    defs: dict[str, Any] = {}
    for i in range(n):
        props: dict[str, Any] = {f"r{i}": {"type": "string"}}
        required = [f"r{i}"] if mode == "structural" else []
        for name in draw(st.lists(st.sampled_from(sorted(OPTIONAL)), unique=True)):
            props[name] = OPTIONAL[name]
        if mode == "tag":
            props["kind"] = {"const": f"k{i}"}
            required.append("kind")
        elif mode == "discriminator":
            props["kind"] = {"type": "string"}
            required.append("kind")
        defs[f"B{i}"] = {"type": "object", "required": required, "properties": props}
    union: dict[str, Any] = {"oneOf": [{"$ref": f"#/$defs/B{i}"} for i in range(n)]}
    if mode == "discriminator":
        union["discriminator"] = {"propertyName": "kind"}
    if draw(st.booleans()):
        union["oneOf"].append({"type": "string"})
    return {
        "$defs": defs,
        "type": "object",
        "properties": {
            "u": union,
            "us": {"type": "array", "items": union},
            "um": {"type": "object", "additionalProperties": union},
        },
    }


def branch_value(draw: st.DrawFn, schema: dict[str, Any]) -> tuple[Any, Any]:
    """(a value valid under one branch with undeclared keys, its expected copy)."""
    union = schema["properties"]["u"]
    branches = union["oneOf"]
    i = draw(st.integers(0, len(branches) - 1))
    if "$ref" not in branches[i]:
        text = draw(VALUES["string"])
        return text, text
    name = branches[i]["$ref"].rsplit("/", 1)[1]
    branch = schema["$defs"][name]
    record: dict[str, Any] = {}
    for key, prop in branch["properties"].items():
        if key == "kind":
            record[key] = prop.get("const", name)  # a discriminator's implicit value is the name
        elif key in branch["required"] or draw(st.booleans()):
            record[key] = draw(VALUES[prop["type"]])
    expected = dict(record)
    extras = draw(st.dictionaries(st.sampled_from(["extra", "secret", "_id"]), VALUES["string"]))
    return {**extras, **record}, expected


@st.composite
def cases(draw: st.DrawFn) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    schema = draw(union_schemas())
    one = branch_value(draw, schema)
    items = [branch_value(draw, schema) for _ in range(draw(st.integers(0, 6)))]
    values = {f"k{j}": branch_value(draw, schema) for j in range(draw(st.integers(0, 4)))}
    record = {
        "u": one[0],
        "us": [v for v, _ in items],
        "um": {k: v for k, (v, _) in values.items()},
    }
    expected = {
        "u": one[1],
        "us": [e for _, e in items],
        "um": {k: e for k, (_, e) in values.items()},
    }
    return schema, record, expected


class Translators:
    """One translator per distinct generated schema (hypothesis repeats them)."""

    def __init__(self, stack: ExitStack, tmp: Path) -> None:
        self.stack, self.tmp, self.by_schema = stack, tmp, {}  # type: ignore[var-annotated]

    def get(self, schema: dict[str, Any]) -> ModuleType:
        text = json.dumps(schema, sort_keys=True)
        if text not in self.by_schema:
            d = self.tmp / str(len(self.by_schema))
            d.mkdir()
            (d / "s.json").write_text(text)
            (d / "u.shim.yaml").write_text(
                # a distinct mapping text per schema: the translator's module name
                # comes from the mapping's hash, and several stay imported at once
                f"shim: unions\nversion: 1\nowner: tests\ndescription: schema {d.name}\n"
                "internal: {schema: s.json}\nexternal: {schema: s.json}\n"
                "fields:\n  u: pass\n  us: pass\n  um: pass\n"
            )
            result = check_mapping(d / "u.shim.yaml")
            assert result.plan is not None, [f.format() for f in result.findings]
            self.by_schema[text] = self.stack.enter_context(translator(result.plan))
        return self.by_schema[text]  # type: ignore[no-any-return]


@pytest.fixture(scope="module")
def translators() -> Iterator[Translators]:
    with ExitStack() as stack, tempfile.TemporaryDirectory() as tmp:
        yield Translators(stack, Path(tmp))


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(case=cases())
def test_union_copy_is_the_record_restricted_to_its_branch(
    translators: Translators, case: tuple[dict[str, Any], dict[str, Any], dict[str, Any]]
) -> None:
    schema, record, expected = case
    assert translators.get(schema).to_external(record) == expected
