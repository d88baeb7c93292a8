"""`shimgen init` as a new user meets it: a schema file of definitions, an output folder."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from shimgen.check import check_mapping
from shimgen.cli import app
from tests.expected import ROOT

DEFS = {
    "$defs": {
        "Employee": {"type": "object", "properties": {"id": {"type": "string"}}},
        "Team": {"type": "object", "properties": {"name": {"type": "string"}}},
    }
}


def test_a_file_of_definitions_without_a_model_is_refused_with_the_models(tmp_path: Path) -> None:
    """Found by a new user: without `#Model` init wrote `fields:` with nothing under it,
    exit 0, and `check` then said only that `fields:` is not a dictionary."""
    schema = tmp_path / "defs.json"
    schema.write_text(json.dumps(DEFS), encoding="utf-8")
    out = tmp_path / "m.shim.yaml"
    result = CliRunner().invoke(
        app,
        ["init", "t", "--internal", str(schema), "--external", f"{schema}#Team", "-o", str(out)],
    )
    assert result.exit_code == 2
    assert "has no fields at its root" in result.output
    assert "#MODEL" in result.output and "available models: Employee, Team" in result.output
    assert not out.exists()


NO_FIELDS = {
    "$defs": {
        "Agent": {"oneOf": [{"$ref": "#/$defs/Ask"}, {"$ref": "#/$defs/Extract"}]},
        "Ask": {"type": "object", "properties": {"q": {"type": "string"}}},
        "Extract": {"type": "object", "properties": {"x": {"type": "string"}}},
        "Quantity": {"type": "string"},
        "Metadata": {"type": "object", "additionalProperties": {"type": "string"}},
    }
}


@pytest.mark.parametrize(
    ("model", "says"),
    [
        ("Agent", "is one of several schemas (Ask, Extract), not an object with fields"),
        ("Quantity", "is a single value (string), not an object with fields"),
        ("Metadata", "declares no fields (map of string)"),
    ],
)
def test_a_model_without_fields_is_refused_saying_why(
    tmp_path: Path, model: str, says: str
) -> None:
    """Found by a sweep of every component of the real schemas: for 194 of 809 (a oneOf,
    a string, a free-form object) init wrote an empty `fields:` and exit 0, and `check`
    then said only that `fields:` is not a dictionary."""
    schema = tmp_path / "defs.json"
    schema.write_text(json.dumps(NO_FIELDS), encoding="utf-8")
    out = tmp_path / "m.shim.yaml"
    spec = f"{schema}#{model}"
    result = CliRunner().invoke(
        app, ["init", "t", "--internal", spec, "--external", f"{schema}#Ask", "-o", str(out)]
    )
    assert result.exit_code == 2
    assert result.output.startswith(f"error: internal schema: {spec} {says}")
    assert len(result.output.splitlines()) == 1
    assert not out.exists()


def test_a_model_named_in_the_file_of_definitions_is_mapped(tmp_path: Path) -> None:
    schema = tmp_path / "defs.json"
    schema.write_text(json.dumps(DEFS), encoding="utf-8")
    out = tmp_path / "new" / "folder" / "m.shim.yaml"  # made by init, like generate's -o
    result = CliRunner().invoke(
        app,
        ["init", "t", "--internal", f"{schema}#Employee", "--external", f"{schema}#Team",
         "-o", str(out)],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    text = out.read_text(encoding="utf-8")
    assert "  id: drop" in text
    assert "schema: ../../defs.json, model: Employee" in text


def test_a_missing_schema_is_named(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """init and check say which schema file they could not find, as the user wrote it."""
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(
        app, ["init", "x", "--internal", "nope.json", "--external", "nope.json"]
    )
    assert result.exit_code == 2
    assert result.stderr == (
        "error: internal schema: schema file not found: nope.json (check the path)\n"
    )
    mapping = tmp_path / "m.shim.yaml"
    mapping.write_text(
        "shim: x\nversion: 1\nowner: t\ninternal: {schema: schemas/in.json}\n"
        "external: {schema: schemas/in.json}\nfields: {}\n",
        encoding="utf-8",
    )
    messages = [f.message for f in check_mapping(mapping).findings]
    assert "internal schema: schema file not found: schemas/in.json" in messages


def test_init_does_not_overwrite_a_mapping_without_force(tmp_path: Path) -> None:
    """A second `init -o` on the file a user has been editing would lose every edit."""
    schema = ROOT / "mappings" / "schemas" / "customer.internal.json"
    out = tmp_path / "c.shim.yaml"
    out.write_text("# my edits\n", encoding="utf-8")
    args = ["init", "c", "--internal", f"{schema}#Customer", "--external", f"{schema}#Customer"]
    refused = CliRunner().invoke(app, [*args, "-o", str(out)])
    assert refused.exit_code == 2
    assert refused.stderr.startswith(f"error: {out} exists and may hold your edits")
    assert "--force" in refused.stderr
    assert out.read_text(encoding="utf-8") == "# my edits\n"
    replaced = CliRunner().invoke(app, [*args, "-o", str(out), "--force"])
    assert replaced.exit_code == 0, replaced.stderr
    assert "fields:" in out.read_text(encoding="utf-8")
