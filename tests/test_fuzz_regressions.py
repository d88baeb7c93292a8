"""Minimal reproducers of crashes ``tests/test_fuzz_chain.py`` found, one test each.

Each was an internal error (exit 3) before its fix; each now is a finding or
an exit 2 that names the file and position.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from typer.testing import CliRunner

from shimgen.cli import app
from tests.expected import ROOT

SCHEMA = ROOT / "mappings" / "schemas" / "customer.internal.json"


def _check(tmp_path: Path, text: str) -> tuple[int, str]:
    mapping = tmp_path / "m.shim.yaml"
    mapping.write_text(text, encoding="utf-8")
    result = CliRunner().invoke(app, ["check", str(mapping)])
    return result.exit_code, result.stderr


def test_control_character_in_mapping_is_sg001_with_position(tmp_path: Path) -> None:
    """A C1 control character (U+0089) in a quoted `why:` made PyYAML's reader raise."""
    text = 'shim: x\nversion: 1\nfields:\n  id: {why: "a\u0089b"}\n'
    code, err = _check(tmp_path, text)
    assert code == 1, err
    assert (
        f"{tmp_path / 'm.shim.yaml'}:4:15: error[SG001]: invalid YAML: unacceptable character #x0089"
        in err
    )
    assert "internal error" not in err


def test_allof_cycle_through_the_root_is_exit_2_naming_the_schema(tmp_path: Path) -> None:
    """`#` allOf [id], id allOf [#]: valid JSON Schema, but no Python class hierarchy can
    express it; datamodel-code-generator refused it and shimgen used to exit 3."""
    schema = {
        "allOf": [{"$ref": "#/$defs/id"}],
        "properties": {"name": {"type": "string"}},
        "$defs": {"id": {"allOf": [{"$ref": "#"}], "properties": {"id": {"type": "string"}}}},
    }
    (tmp_path / "internal.json").write_text(json.dumps(schema), encoding="utf-8")
    text = (
        "shim: fz\nversion: 1\nowner: t\ndescription: d\n"
        "internal: {schema: internal.json}\nexternal: {schema: internal.json}\n"
        "fields:\n  id: pass\n  name: pass\n"
    )
    mapping = tmp_path / "m.shim.yaml"
    mapping.write_text(text, encoding="utf-8")
    out = tmp_path / "out"
    result = CliRunner().invoke(app, ["generate", str(mapping), "-o", str(out)])
    assert result.exit_code == 2, result.output
    assert "internal.json: datamodel-code-generator cannot model this schema" in result.stderr
    assert "inheritance cycle" in result.stderr and "internal error" not in result.stderr
    assert not out.exists()


def test_a_union_made_only_of_itself_copies_null_and_refuses_the_rest(tmp_path: Path) -> None:
    """`id: anyOf [oneOf [id, id], null]` has no branch but itself: no value but null fits.

    Its copy was taken for a union of scalars (every one of its no branches is a scalar),
    and the generated check read ``v.__class__ not in (,)``, which is no Python: exit 3.
    """
    schema = {
        "properties": {"id": {"type": "string"}, "name": {"$ref": "#/$defs/id"}},
        "$defs": {
            "id": {
                "anyOf": [
                    {"oneOf": [{"$ref": "#/$defs/id"}, {"$ref": "#/$defs/id"}]},
                    {"type": "null"},
                ]
            }
        },
    }
    (tmp_path / "internal.json").write_text(json.dumps(schema), encoding="utf-8")
    mapping = tmp_path / "m.shim.yaml"
    mapping.write_text(
        "shim: fz\nversion: 1\nowner: t\ndescription: d\n"
        "internal: {schema: internal.json}\nexternal: {schema: internal.json}\n"
        "fields:\n  id: {why: fuzz}\n  name: {why: fuzz}\n",
        encoding="utf-8",
    )
    out = tmp_path / "out"
    result = CliRunner().invoke(app, ["generate", str(mapping), "-o", str(out)])
    assert result.exit_code == 0, result.output
    probe = (
        "from fz_shim.translate import to_external\n"
        "from fz_shim.runtime.core.errors import TranslationError\n"
        "print(to_external({'id': 'a', 'name': None}))\n"
        "for bad in ({'x': 1}, 's', 3):\n"
        "    try:\n"
        "        to_external({'id': 'a', 'name': bad})\n"
        "    except TranslationError as exc:\n"
        "        print('refused', exc)\n"
    )
    ran = subprocess.run(
        [sys.executable, "-c", probe], cwd=out, capture_output=True, text=True, check=True
    )
    lines = ran.stdout.splitlines()
    assert lines[0] == "{'id': 'a', 'name': None}"
    assert [line.split()[0] for line in lines[1:]] == ["refused"] * 3, ran.stdout
