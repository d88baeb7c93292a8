"""Attack class: code in the schemas or the mapping.

The external schema may come from a partner, and a mapping author copies enum values
and names out of both schemas. Every name, value and description shimgen writes into
generated Python is a string literal (``repr``), a comment or a docstring kept on one
line with its quotes and backslashes escaped: text that ends a comment, a docstring or
a string literal and goes on as code ran at import, or on every record translated.
A derived template becomes an f-string, so its format spec may hold no field: an
expression there ran on every record. See docs/threat-model.md, "Code in the inputs".
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest

from shimgen.check import check_mapping
from shimgen.diagnostics import Code
from shimgen.render.generate import write_package


def _payload(marker: Path, newline: str = "\n") -> str:
    """Text that, if it left a comment or a docstring, would be code creating ``marker``."""
    return f'X"""\\{newline}__import__("os").system("touch {marker}"){newline}def _hijack():{newline}    #'


def _schema(props: dict[str, Any], defs: dict[str, Any] | None = None) -> dict[str, Any]:
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "type": "object",
        "additionalProperties": False,
        "required": ["id"],
        "properties": {"id": {"type": "string"}, **props},
        **({"$defs": defs} if defs else {}),
    }


def _generate(
    tmp_path: Path,
    internal: dict[str, Any],
    external: dict[str, Any],
    fields: str,
    extra: str = "",
    name: str = "poc.shim.yaml",
) -> Path:
    (tmp_path / "int.json").write_text(json.dumps(internal))
    (tmp_path / "ext.json").write_text(json.dumps(external))
    mapping = tmp_path / name
    mapping.write_text(
        "shim: poc\nversion: 1\nowner: team\n"
        f"{extra}"
        "internal: {schema: int.json}\nexternal: {schema: ext.json}\n"
        "fields:\n  id: {treat: tokenize, why: key}\n" + fields
    )
    result = check_mapping(mapping)
    assert result.plan is not None, [str(f) for f in result.findings]
    out = tmp_path / "out"
    write_package(result.plan, out)
    return out


def _run(out: Path, code: str) -> None:
    """Import the package and its translator, then run ``code``, in a fresh interpreter."""
    subprocess.run(
        [sys.executable, "-c", f"import poc_shim, poc_shim.translate as t\n{code}"],
        cwd=out,
        env={"SHIM_DEV_KEYS": "1", "PATH": "/usr/bin:/bin"},
        check=True,
        capture_output=True,
    )


@pytest.mark.parametrize("newline", ["\n", "\r", "\r\n"], ids=["lf", "cr", "crlf"])
def test_enum_value_in_a_map_treatment_stays_in_its_comment(tmp_path: Path, newline: str) -> None:
    marker = tmp_path / "pwned"
    value = _payload(marker, newline)
    out = _generate(
        tmp_path,
        _schema({"status": {"type": "string", "enum": ["A", value]}}),
        _schema({"status": {"type": "string", "enum": ["active", "closed"]}}),
        f"  status: {{treat: {{map: {{A: active, {json.dumps(value)}: closed}}}}, why: x}}\n",
    )
    _run(out, f"print(t.to_external({{'id': 'a', 'status': {value!r}}}))")
    assert not marker.exists()


def test_definition_name_stays_in_its_docstring(tmp_path: Path) -> None:
    marker = tmp_path / "out" / "pwned"  # relative: a $ref's pointer would split at "/"
    name = 'C"""\n__import__("os").system("touch pwned")\ndef _hijack():\n    """'
    side = _schema(
        {"cards": {"type": "array", "items": {"$ref": "#/$defs/" + quote(name, safe="")}}},
        {name: {"type": "object", "properties": {"n": {"type": "string"}}}},
    )
    out = _generate(tmp_path, side, side, "  cards: {treat: pass, why: x}\n")
    _run(out, "print(t.to_external({'id': 'a', 'cards': [{'n': 'b'}]}))")
    assert not marker.exists()


def test_external_array_name_stays_in_its_string_literal(tmp_path: Path) -> None:
    marker = tmp_path / "out" / "pwned"  # relative: a JSON pointer escapes "/"
    array = 'x" + str(__import__("os").system("touch pwned")) + "'
    item = {"type": "array", "items": {"type": "object", "properties": {"n": {"type": "string"}}}}
    to = json.dumps(json.dumps(array) + "[].n")
    out = _generate(
        tmp_path,
        _schema({"cards": item}),
        _schema({array: item}),
        f"  cards[].n: {{to: {to}, treat: pass, inbound: true, why: x}}\n",
    )
    _run(out, f"print(t.to_internal({{{array!r}: [{{'n': 'b'}}]}}))")
    assert not marker.exists()


def test_mapping_description_and_file_name_stay_in_docstrings(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    description = json.dumps(_payload(marker) + '"""')
    out = _generate(
        tmp_path,
        _schema({}),
        _schema({}),
        "",
        extra=f"description: {description}\n",
        name='a"""b\\.shim.yaml',
    )
    _run(out, "import poc_shim.app")
    assert not marker.exists()


def _template_mapping(tmp_path: Path, template: str) -> Path:
    (tmp_path / "int.json").write_text(json.dumps(_schema({"name": {"type": "string"}})))
    (tmp_path / "ext.json").write_text(
        json.dumps(_schema({"name": {"type": "string"}, "dn": {"type": "string"}}))
    )
    mapping = tmp_path / "poc.shim.yaml"
    mapping.write_text(
        "shim: poc\nversion: 1\nowner: team\n"
        "internal: {schema: int.json}\nexternal: {schema: ext.json}\n"
        "fields: {id: {treat: tokenize, why: key}, name: pass}\n"
        f"derived: {{dn: {{from: [name], template: {json.dumps(template)}}}}}\n"
    )
    return mapping


@pytest.mark.parametrize(
    "template",
    ['{0:{__import__("os").getpid()}}', "{0:>{0}}", "{0!x}", "{\u0660}", "{\u00b9}"],
    ids=[
        "expression-in-spec",
        "field-in-spec",
        "unknown-conversion",
        "arabic-digit",
        "superscript",
    ],
)
def test_template_format_spec_may_hold_no_field(tmp_path: Path, template: str) -> None:
    result = check_mapping(_template_mapping(tmp_path, template))
    assert result.plan is None
    assert [f.code for f in result.findings] == [Code.BAD_DERIVED], result.findings


def test_plain_format_spec_and_conversion_are_still_a_template(tmp_path: Path) -> None:
    result = check_mapping(_template_mapping(tmp_path, "<{0!r:>12}>"))
    assert result.plan is not None, [str(f) for f in result.findings]
