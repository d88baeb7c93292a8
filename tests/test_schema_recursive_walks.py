"""Walks of cyclic schema graphs terminate, whatever kind the cycle runs through.

Recursion through objects was always detected by the walk stack; these
schemas recurse through a union (SchemaStore github-workflow's
``configuration = oneOf[string, array of configuration]``) and through arrays
alone, where ``describe``, lint's subtree test and ``init`` used to recurse
until Python's stack ran out.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from shimgen.check import check_mapping
from shimgen.cli import app
from shimgen.lint.facts import is_subtree
from shimgen.schema.loader import load_schema
from shimgen.schema.model import Kind
from tests.expected import translator

SCHEMA = {
    "$schema": "http://json-schema.org/draft-07/schema#",
    "type": "object",
    "definitions": {
        "c": {
            "oneOf": [{"type": "string"}, {"type": "array", "items": {"$ref": "#/definitions/c"}}]
        },
        "a": {"type": "array", "items": {"$ref": "#/definitions/a"}},
        "self": {
            "oneOf": [{"$ref": "#/definitions/self"}, {"type": "string"}, {"type": "integer"}]
        },
        "m": {"type": "object", "additionalProperties": {"$ref": "#/definitions/m"}},
        "u": {
            "anyOf": [
                {"type": "string"},
                {"type": "object", "additionalProperties": {"$ref": "#/definitions/u"}},
            ]
        },
    },
    "properties": {
        "cfg": {"$ref": "#/definitions/c"},
        "nest": {"$ref": "#/definitions/a"},
        "self": {"$ref": "#/definitions/self"},
        "m": {"$ref": "#/definitions/m"},
        "u": {"$ref": "#/definitions/u"},
        "name": {"type": "string"},
    },
}


@pytest.fixture
def schema_file(tmp_path: Path) -> Path:
    path = tmp_path / "cyclic.schema.json"
    path.write_text(json.dumps(SCHEMA))
    return path


def test_describe_names_the_recursive_union(schema_file: Path) -> None:
    cfg = load_schema(schema_file, None).root.properties["cfg"]
    assert cfg.kind is Kind.UNION
    assert cfg.describe() == "union of string | array of c"


def test_describe_an_array_of_itself(schema_file: Path) -> None:
    nest = load_schema(schema_file, None).root.properties["nest"]
    assert nest.describe() == "array of a"
    nest.name = None
    assert nest.describe() == "array of recursive array"


def test_is_subtree_terminates_on_an_array_cycle(schema_file: Path) -> None:
    root = load_schema(schema_file, None).root
    assert is_subtree(root.properties["nest"])
    assert not is_subtree(root.properties["name"])


def test_init_check_generate_on_recursive_unions(schema_file: Path, tmp_path: Path) -> None:
    target = tmp_path / "cyclic.shim.yaml"
    runner = CliRunner()
    spec = str(schema_file)
    result = runner.invoke(
        app, ["init", "cyclic", "--internal", spec, "--external", spec, "-o", str(target)]
    )
    assert result.exit_code == 0, result.output
    listed = target.read_text()
    assert "cfg: drop  # union of string | array of c" in listed
    assert "self: drop  # union of self | string | integer" in listed
    assert "m: drop  # map of m" in listed
    assert "u: drop  # union of string | map of u" in listed
    target.write_text(target.read_text().replace("  name: drop", "  name: pass"))
    assert runner.invoke(app, ["check", str(target)]).exit_code == 0
    assert runner.invoke(app, ["review", str(target)]).exit_code == 0
    # every cyclic field passed whole: copied by functions that call themselves
    target.write_text(target.read_text().replace(": drop", ": pass"))
    result = runner.invoke(app, ["check", str(target)])
    assert result.exit_code == 0, result.output


def test_recursive_fields_passed_whole_copy_as_deep_as_the_value(
    schema_file: Path, tmp_path: Path
) -> None:
    """A recursive copy is a function that calls itself; undeclared fields never cross."""
    target = tmp_path / "cyclic.shim.yaml"
    spec = str(schema_file)
    args = ["init", "cyclic", "--internal", spec, "--external", spec, "-o", str(target)]
    assert CliRunner().invoke(app, args).exit_code == 0
    target.write_text(target.read_text().replace(": drop", ": pass"))
    plan = check_mapping(target).plan
    assert plan is not None
    deep: Any = "x"
    for _ in range(40):
        deep = [deep, "y"]
    record = {
        "cfg": ["a", ["b", ["c"]]],
        "nest": [[[], [[]]]],
        "self": 7,
        "m": {"a": {"b": {"c": {}}}},
        "u": {"a": {"b": "leaf"}, "c": "leaf"},
        "name": "n",
    }
    with translator(plan) as mod:
        assert mod.to_external(record) == record
        assert mod.to_external({"cfg": deep})["cfg"] == deep
        with pytest.raises(ValueError) as err:
            mod.to_external({"cfg": ["a", ["b", [3]]]})
        assert [p.pointer for p in err.value.problems] == ["/cfg/1/1/0"]  # type: ignore[attr-defined]
