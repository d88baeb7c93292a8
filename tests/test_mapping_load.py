"""Loading mapping files: YAML positions, shape errors as positioned findings,
and the JSON Schema of the format (``shimgen schema``)."""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from shimgen.cli import app
from shimgen.diagnostics import Code
from shimgen.mapping.load import load_mapping
from shimgen.mapping.model import FieldRule, mapping_json_schema
from shimgen.mapping.yamlpos import Pos, Positions, YamlError, load_with_positions
from shimgen.treatments import TreatmentError, parse_treatment

ROOT = Path(__file__).resolve().parent.parent
BAD = ROOT / "tests" / "fixtures" / "bad"
BASE = BAD / "base.shim.yaml"
EXAMPLES = sorted((ROOT / "mappings").glob("*.shim.yaml"))


def lines_of(text: str, fragment: str) -> int:
    """1-based line of the first line containing ``fragment``."""
    return next(i for i, line in enumerate(text.splitlines(), start=1) if fragment in line)


# -- yamlpos: positions ----------------------------------------------------------------

DOC = """\
shim: demo
internal: {schema: in.json, model: In}
fields:
  id: {to: customerId, treat: tokenize}
  ssn: drop
  name.given:
    to: firstName
    groups:
      support: pass
  "cards[].number": last4
list:
  - first
  - {k: v}
"""


def test_positions_of_block_keys_and_values() -> None:
    data, pos, dups = load_with_positions(DOC)
    assert dups == []
    assert data["shim"] == "demo"
    assert pos.keys[("shim",)] == Pos(1, 1)
    assert pos.values[("shim",)] == Pos(1, 7)
    assert pos.keys[("fields",)] == Pos(3, 1)
    assert pos.values[("fields",)] == Pos(4, 3)  # a block value starts at its first key
    assert pos.keys[("fields", "ssn")] == Pos(5, 3)
    assert pos.values[("fields", "ssn")] == Pos(5, 8)
    assert pos.keys[("fields", "name.given", "groups", "support")] == Pos(9, 7)
    assert pos.values[("fields", "name.given", "groups", "support")] == Pos(9, 16)


def test_positions_inside_flow_mappings() -> None:
    _, pos, _ = load_with_positions(DOC)
    assert pos.keys[("internal", "schema")] == Pos(2, 12)
    assert pos.values[("internal", "schema")] == Pos(2, 20)
    assert pos.keys[("internal", "model")] == Pos(2, 29)
    assert pos.keys[("fields", "id", "treat")] == Pos(4, 24)
    assert pos.values[("fields", "id", "treat")] == Pos(4, 31)


def test_quoted_keys_are_plain_strings() -> None:
    data, pos, _ = load_with_positions(DOC)
    assert data["fields"]["cards[].number"] == "last4"
    assert pos.keys[("fields", "cards[].number")] == Pos(10, 3)
    assert pos.values[("fields", "cards[].number")] == Pos(10, 21)


def test_sequence_items_are_positioned_by_index() -> None:
    data, pos, _ = load_with_positions(DOC)
    assert data["list"] == ["first", {"k": "v"}]
    assert pos.keys[("list", 0)] == pos.values[("list", 0)] == Pos(12, 5)
    assert pos.keys[("list", 1)] == Pos(13, 5)
    assert pos.keys[("list", 1, "k")] == Pos(13, 6)


def test_root_value_position() -> None:
    _, pos, _ = load_with_positions("# a comment\n\nshim: x\n")
    assert pos.values[()] == Pos(3, 1)
    assert pos.value(()) == Pos(3, 1)


def test_unknown_paths_fall_back_to_nearest_ancestor() -> None:
    _, pos, _ = load_with_positions(DOC)
    # a key pydantic reports but the document lacks (a missing key, a union label)
    assert pos.key(("fields", "ssn", "treat")) == Pos(5, 3)
    assert pos.key(("fields", "name.given", "groups", "support", "[key]")) == Pos(9, 7)
    # value(): a path without a value position falls back to the key lookup
    assert pos.value(("fields", "ssn", "nothing")) == Pos(5, 3)
    assert pos.value(("fields", "ssn")) == Pos(5, 8)
    # nothing at all: the start of the file
    assert pos.key(("no", "such", "key")) == Pos(1, 1)
    assert Positions().key(()) == Pos(1, 1)
    assert Positions().value(("x",)) == Pos(1, 1)


def test_keys_are_the_strings_they_spell() -> None:
    """Property names are data: `on`, `1`, `0x10`, `null`, `~` as keys stay what they say."""
    text = "1: one\ntrue: yes\nnull: nothing\non: 1\n0x10: a\n~: b\nNo: c\n1.0: d\n"
    data, pos, _ = load_with_positions(text)
    assert list(data) == ["1", "true", "null", "on", "0x10", "~", "No", "1.0"]
    assert data["true"] == "yes"  # YAML 1.2 core: only true/false are booleans
    assert pos.keys[("1",)] == Pos(1, 1)
    assert pos.keys[("~",)] == Pos(6, 1)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("on", "on"),
        ("yes", "yes"),
        ("No", "No"),
        ("off", "off"),
        ("y", "y"),
        ("true", True),
        ("False", False),
        ("017", 17),  # decimal in YAML 1.2, not octal
        ("0o17", 15),
        ("0x10", 16),
        ("1_000", "1_000"),
        ("1:20", "1:20"),
        ("2024-03-01", "2024-03-01"),  # no timestamps: a date stays the string written
        ("1.5", 1.5),
        ("~", None),
        ("null", None),
    ],
)
def test_values_follow_yaml_1_2_core(value: str, expected: object) -> None:
    data, _, _ = load_with_positions(f"k: {value}\n")
    assert data["k"] == expected and type(data["k"]) is type(expected)


def test_quoted_merge_key_is_a_name() -> None:
    data, _, _ = load_with_positions("a: {'<<': {z: 1}, y: 2}\n")
    assert data == {"a": {"<<": {"z": 1}, "y": 2}}


def test_position_inside_a_scalar() -> None:
    """A finding can point at a character inside a key or value written on one line."""
    text = 'fields:\n  a.b: drop\n  "c d": {to: \'x.y\'}\n  e: {to: "p\\tq"}\n'
    _, pos, _ = load_with_positions(text)
    assert pos.inside(("fields", "a.b"), 2) == Pos(2, 5)
    assert pos.inside(("fields", "c d"), 1) == Pos(3, 5)
    assert pos.inside(("fields", "c d", "to"), 2, value=True) == Pos(3, 18)
    # an escape changes the width: the finding falls back to where the value starts
    assert pos.inside(("fields", "e", "to"), 2, value=True) == Pos(4, 11)


def test_aliases_are_expanded() -> None:
    data, _, dups = load_with_positions("a: &x {k: 1}\nb: *x\n")
    assert data == {"a": {"k": 1}, "b": {"k": 1}}
    assert dups == []


def test_merge_keys_load_like_safe_load() -> None:
    text = "base: &b {treat: drop, why: no}\nssn: {<<: *b, why: never}\n"
    data, _, _ = load_with_positions(text)
    assert data == yaml.safe_load(text.replace("why: no}", "why: 'no'}"))  # `no` is a string


def test_empty_document() -> None:
    data, pos, dups = load_with_positions("# only a comment\n")
    assert data is None
    assert pos.keys == {} and dups == []


# -- yamlpos: duplicates and errors ----------------------------------------------------


def test_duplicate_keys_are_reported_with_both_positions() -> None:
    text = "shim: a\nversion: 1\nshim: b\n"
    data, _, dups = load_with_positions(text)
    assert data["shim"] == "b"  # YAML semantics: the last one wins
    assert len(dups) == 1
    assert dups[0].path == ("shim",)
    assert dups[0].first == Pos(1, 1)
    assert dups[0].again == Pos(3, 1)


def test_nested_and_flow_duplicates() -> None:
    text = "fields:\n  a: drop\n  b: {to: x, to: y}\n  a: pass\n"
    _, _, dups = load_with_positions(text)
    assert [(d.path, d.first, d.again) for d in dups] == [
        (("fields", "b", "to"), Pos(3, 7), Pos(3, 14)),
        (("fields", "a"), Pos(2, 3), Pos(4, 3)),
    ]


def test_keys_equal_after_string_conversion_are_duplicates() -> None:
    _, _, dups = load_with_positions("1: a\n'1': b\n")
    assert [d.path for d in dups] == [("1",)]


@pytest.mark.parametrize(
    ("text", "line", "col", "message"),
    [
        ("shim: a\nfields:\n  ssn: drop: now\n", 3, 12, "mapping values are not allowed"),
        ("shim: a\nfields: {a: b\n", 3, 1, "expected ',' or '}'"),
        ("shim: a\n---\nshim: b\n", 2, 1, "another document"),
        ("shim: 'unterminated\n", 2, 1, "unexpected end of stream"),
        ("fields:\n  ? [a, b]\n  : drop\n", 2, 5, "a mapping key must be a plain value"),
    ],
)
def test_yaml_errors_carry_a_position(text: str, line: int, col: int, message: str) -> None:
    with pytest.raises(YamlError) as info:
        load_with_positions(text)
    assert info.value.pos == Pos(line, col)
    assert message in info.value.message


# -- load: reading the file --------------------------------------------------------------


def write(tmp_path: Path, text: str, name: str = "m.shim.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_load_good_mapping() -> None:
    lm = load_mapping(BASE)
    assert lm.findings == []
    assert not lm.unreadable
    assert lm.mapping is not None
    assert lm.mapping.shim == "person"
    assert lm.sha256 == hashlib.sha256(BASE.read_bytes()).hexdigest()
    assert lm.mapping.rule("ssn") == FieldRule(treat="drop")
    assert lm.mapping.rule("tags").to == "tags"
    assert lm.positions.keys[("fields", "ssn")].line == lines_of(BASE.read_text(), "  ssn: drop")


def test_load_missing_file_is_unreadable(tmp_path: Path) -> None:
    lm = load_mapping(tmp_path / "nope.shim.yaml")
    assert lm.unreadable and lm.mapping is None
    [f] = lm.findings
    assert (f.code, f.line, f.col) == (Code.MAPPING_UNREADABLE, 1, 1)
    assert f.message == "cannot read the mapping file: No such file or directory"
    assert f.hint == "check the path"


def test_load_non_utf8_is_unreadable(tmp_path: Path) -> None:
    path = tmp_path / "latin1.shim.yaml"
    path.write_bytes("shim: caf\u00e9\n".encode("latin-1"))
    lm = load_mapping(path)
    assert lm.unreadable
    [f] = lm.findings
    assert f.code is Code.YAML_SYNTAX
    assert "UTF-8" in f.message


def test_load_yaml_error_is_a_positioned_finding(tmp_path: Path) -> None:
    lm = load_mapping(write(tmp_path, "shim: a\nversion: 1\nowner: [x\n"))
    assert not lm.unreadable, "a syntax error is a finding (exit 1), the file was read"
    [f] = lm.findings
    assert f.code is Code.YAML_SYNTAX
    assert f.message.startswith("invalid YAML: ")
    assert f.line == 4


@pytest.mark.parametrize("text", ["", "# nothing\n", "- a\n- b\n", "just text\n"])
def test_load_not_a_mapping(tmp_path: Path, text: str) -> None:
    lm = load_mapping(write(tmp_path, text))
    assert not lm.unreadable and lm.mapping is None
    [f] = lm.findings
    assert (f.code, f.line, f.col) == (Code.BAD_STRUCTURE, 1, 1)
    assert "a mapping file is a YAML mapping" in f.message


# -- load: pydantic errors as positioned findings ----------------------------------------


def test_fields_with_nothing_below_says_so(tmp_path: Path) -> None:
    """`fields:` with no entry is YAML null: pydantic said "Input should be a valid
    dictionary", which names neither the problem nor the fix."""
    text = BASE.read_text(encoding="utf-8").split("fields:")[0] + "fields:\n"
    [f] = load_mapping(write(tmp_path, text)).findings
    assert (f.code, f.message) == (Code.BAD_STRUCTURE, "fields: has no entry below it")
    assert "`shimgen init` writes every one" in f.hint


def bad(tmp_path: Path, old: str, new: str) -> tuple[str, list[tuple[Code, int, int, str, str]]]:
    base = BASE.read_text(encoding="utf-8")
    assert base.count(old) == 1, old
    text = base.replace(old, new)
    lm = load_mapping(write(tmp_path, text))
    assert lm.mapping is None and not lm.unreadable
    return text, [(f.code, f.line, f.col, f.message, f.hint) for f in lm.findings]


def test_bad_name_points_at_the_value(tmp_path: Path) -> None:
    text, found = bad(tmp_path, "shim: person\n", "shim: Person\n")
    [(code, line, col, message, hint)] = found
    assert (code, line, col) == (Code.BAD_NAME, lines_of(text, "shim: Person"), 7)
    assert message.startswith("shim: ")
    assert "lowercase" in hint


@pytest.mark.parametrize("value", ["0", "-1", "three", "'3'", "1.5", "true"])
def test_bad_version_points_at_the_value(tmp_path: Path, value: str) -> None:
    text, found = bad(tmp_path, "version: 1\n", f"version: {value}\n")
    [(code, line, col, message, _)] = found
    assert (code, line, col) == (Code.BAD_VERSION, lines_of(text, "version: "), 10)
    assert message.startswith("version: ")


def test_unknown_key_message_and_position(tmp_path: Path) -> None:
    text, found = bad(
        tmp_path,
        "  score: {to: score, treat: {round: 1}}\n",
        "  score: {to: score, tret: {round: 1}}\n",
    )
    [(code, line, col, message, hint)] = found
    line_text = text.splitlines()[line - 1]
    assert code is Code.BAD_STRUCTURE
    assert line_text.startswith("  score:")
    assert line_text[col - 1 :].startswith("tret:")  # the key, not its value
    assert message == "unknown key `tret` in fields.score"
    assert hint == (
        "did you mean `treat`? the keys here are to, treat, groups, inbound, why, description;"
        " or remove it"
    )


def test_unknown_top_level_key_has_no_location_suffix(tmp_path: Path) -> None:
    text, found = bad(tmp_path, "owner: test-team\n", "owner: test-team\nowners: [a]\n")
    assert found == [
        (
            Code.BAD_STRUCTURE,
            lines_of(text, "owners:"),
            1,
            "unknown key `owners`",
            "did you mean `owner`? the keys here are shim, version, owner, description, internal,"
            " external, groups, extends, levels, classification, fields, derived, upstream,"
            " routes, tracking; or remove it",
        ),
    ]


def test_a_misspelt_required_key_is_one_finding(tmp_path: Path) -> None:
    """`owners:` for `owner:` was two findings, "owner: Field required" and the unknown key:
    one typo, one finding, whose hint names the key meant."""
    text, found = bad(tmp_path, "owner: test-team\n", "owners: test-team\n")
    [(code, line, _, message, hint)] = found
    assert (code, line, message) == (
        Code.BAD_STRUCTURE, lines_of(text, "owners:"), "unknown key `owners`",
    )  # fmt: skip
    assert hint.startswith("did you mean `owner`? ")


def test_a_missing_key_beside_an_unrelated_unknown_one_is_still_reported(tmp_path: Path) -> None:
    _, found = bad(tmp_path, "owner: test-team\n", "colour: blue\n")
    assert sorted(m for _, _, _, m, _ in found) == ["owner: Field required", "unknown key `colour`"]


def test_unknown_keys_in_nested_sections_name_the_keys_there(tmp_path: Path) -> None:
    _, found = bad(tmp_path, "  region: {const: eu}\n", "  region: {cnst: eu}\n")
    [hint] = [h for _, _, _, m, h in found if m == "unknown key `cnst` in derived.region"]
    assert hint.startswith("did you mean `const`? the keys here are from, template, const, ")


def test_groups_written_as_a_list_say_how_to_write_them(tmp_path: Path) -> None:
    old = "groups:\n  support: Customer support - contact details, never payment data\n"
    old += "  billing: Billing operations - payment data, masked contact details\n"
    _, found = bad(tmp_path, old, "groups: [support, billing]\n")
    [(code, _, _, _, hint)] = [f for f in found if f[3].startswith("groups:")]
    assert code is Code.BAD_STRUCTURE
    assert hint == (
        "groups is a mapping from each group's name to what it is for: "
        "`groups: {support: Helpdesk answering customers}`"
    )


def test_missing_key(tmp_path: Path) -> None:
    _, found = bad(tmp_path, "owner: test-team\n", "")
    [(code, line, col, message, hint)] = found
    assert code is Code.BAD_STRUCTURE
    assert message == "owner: Field required"
    assert hint == "add `owner:`"
    # a key missing from the top level points at where the document starts
    first = next(
        i for i, t in enumerate(BASE.read_text().splitlines(), 1) if t and not t.startswith("#")
    )
    assert (line, col) == (first, 1)


def test_wrong_type_points_at_the_nested_value(tmp_path: Path) -> None:
    text, found = bad(tmp_path, "  tags: {to: tags}\n", "  tags: {to: tags, inbound: [yes]}\n")
    [(code, line, col, message, hint)] = found
    assert code is Code.BAD_STRUCTURE
    assert line == lines_of(text, "inbound: [yes]")
    assert text.splitlines()[line - 1][col - 1 :].startswith("[yes]")
    assert message.startswith("fields.tags.inbound: ")
    assert "a field is a treatment name" in hint


def test_union_branches_give_one_finding_per_location(tmp_path: Path) -> None:
    # `ssn: 5` fails both FieldRule and str; one finding, without branch labels
    text, found = bad(tmp_path, "  ssn: drop\n", "  ssn: 5\n")
    [(code, line, col, message, _)] = found
    assert (code, line, col) == (Code.BAD_STRUCTURE, lines_of(text, "ssn: 5"), 8)
    assert message.startswith("fields.ssn: ")
    assert "FieldRule" not in message.split(":")[0]


NULL_HINT = 'write the null treatment quoted: `"null"`; or name another treatment, e.g. `drop`'


@pytest.mark.parametrize(
    ("old", "new", "where", "at"),
    [
        ("  ssn: drop\n", "  ssn: null\n", "fields.ssn", "null"),
        ("  ssn: drop\n", "  ssn: ~\n", "fields.ssn", "~"),
        ("  ssn: drop\n", "  ssn: {treat: null}\n", "fields.ssn.treat", "null}"),
        (
            "groups: {support: drop}",
            "groups: {support: null}",
            "fields.cards[].number.groups.support",
            "null}",
        ),
        (
            "    groups: {support: pass}\n",
            "    groups:\n      support:\n",
            "fields.email.groups.support",
            "",
        ),
    ],
)
def test_a_bare_null_treatment_says_to_quote_it(
    tmp_path: Path, old: str, new: str, where: str, at: str
) -> None:
    """YAML's no-value is never the null treatment: every place that takes one says so."""
    text, found = bad(tmp_path, old, new)
    [(code, line, col, message, hint)] = found
    assert code is Code.BAD_TREATMENT
    assert message == f"{where}: no treatment: YAML reads a bare null, `~` or nothing as no value"
    assert hint == NULL_HINT
    assert text.splitlines()[line - 1][col - 1 :].startswith(at)
    if at:
        fixed = text.replace(new, new.replace("null", '"null"').replace("~", '"null"'))
        lm = load_mapping(write(tmp_path, fixed))
        assert lm.findings == [] and lm.mapping is not None


def test_bad_group_name_points_at_the_group(tmp_path: Path) -> None:
    text, found = bad(tmp_path, "  support: Customer support", "  Support: Customer support")
    [(code, line, col, message, _)] = found
    assert (code, line, col) == (Code.BAD_STRUCTURE, lines_of(text, "Support:"), 3)
    assert "groups.Support" in message


def test_every_shape_error_is_reported(tmp_path: Path) -> None:
    text = BASE.read_text(encoding="utf-8")
    for old, new in [
        ("shim: person\n", "shim: _x\n"),
        ("version: 1\n", "version: 0\n"),
        ("  ssn: drop\n", "  ssn: {trat: drop}\n"),
        ("  region: {const: eu}\n", "  region: {const: eu, groups: {support: mask}}\n"),
    ]:
        text = text.replace(old, new)
    lm = load_mapping(write(tmp_path, text))
    got = sorted((f.code, f.line) for f in lm.findings)
    assert got == sorted(
        [
            (Code.BAD_NAME, lines_of(text, "shim: _x")),
            (Code.BAD_VERSION, lines_of(text, "version: 0")),
            (Code.BAD_STRUCTURE, lines_of(text, "trat:")),
            (Code.BAD_STRUCTURE, lines_of(text, "support: mask")),
        ]
    )


def test_finding_uses_key_or_value_position() -> None:
    lm = load_mapping(BASE)
    key = lm.finding(Code.BAD_TREATMENT, "m", ("fields", "ssn"))
    value = lm.finding(Code.BAD_TREATMENT, "m", ("fields", "ssn"), value=True)
    assert (key.line, key.col) == (value.line, 3)
    assert value.col == 8
    assert key.file == BASE


# -- shimgen schema ---------------------------------------------------------------------

SUPPORTED = {
    "$ref",
    "$defs",
    "$schema",
    "type",
    "properties",
    "required",
    "additionalProperties",
    "patternProperties",
    "propertyNames",
    "anyOf",
    "enum",
    "const",
    "items",
    "minimum",
    "maximum",
    "minLength",
    "minItems",
    "uniqueItems",
    "minProperties",
    "maxLength",
    "pattern",
}
ANNOTATIONS = {"title", "description", "default", "examples"}
TYPES = {
    "object": lambda v: isinstance(v, dict),
    "array": lambda v: isinstance(v, list),
    "string": lambda v: isinstance(v, str),
    "boolean": lambda v: isinstance(v, bool),
    "null": lambda v: v is None,
    "integer": lambda v: isinstance(v, int) and not isinstance(v, bool),
    "number": lambda v: isinstance(v, int | float) and not isinstance(v, bool),
}


def keywords(schema: Any, out: set[str] | None = None) -> set[str]:
    """Every keyword used anywhere in ``schema`` (names under properties/$defs skipped)."""
    out = set() if out is None else out
    if isinstance(schema, dict):
        for key, value in schema.items():
            out.add(key)
            if key in ("properties", "$defs", "patternProperties"):
                for sub in value.values():
                    keywords(sub, out)
            else:
                keywords(value, out)
    elif isinstance(schema, list):
        for item in schema:
            keywords(item, out)
    return out


def validate(inst: Any, schema: Any, root: dict[str, Any], where: str = "") -> list[str]:
    """A validator for the JSON Schema 2020-12 subset ``shimgen schema`` uses
    (``jsonschema`` is not installed in this environment)."""
    if schema is True:
        return []
    if schema is False:
        return [f"{where}: not allowed"]
    errors: list[str] = []
    if "$ref" in schema:
        ref = schema["$ref"]
        assert ref.startswith("#/$defs/"), ref
        errors += validate(inst, root["$defs"][ref.removeprefix("#/$defs/")], root, where)
    if "type" in schema and not TYPES[schema["type"]](inst):
        return [*errors, f"{where}: {inst!r} is not of type {schema['type']}"]
    if "enum" in schema and inst not in schema["enum"]:
        errors.append(f"{where}: {inst!r} not in {schema['enum']}")
    if "const" in schema and inst != schema["const"]:
        errors.append(f"{where}: {inst!r} != {schema['const']!r}")
    if "anyOf" in schema and all(validate(inst, s, root, where) for s in schema["anyOf"]):
        errors.append(f"{where}: {inst!r} matches no anyOf branch")
    if isinstance(inst, str):
        if len(inst) < schema.get("minLength", 0) or len(inst) > schema.get("maxLength", len(inst)):
            errors.append(f"{where}: bad length")
        if "pattern" in schema and not re.search(schema["pattern"], inst):
            errors.append(f"{where}: {inst!r} does not match {schema['pattern']}")
    if TYPES["number"](inst) and "minimum" in schema and inst < schema["minimum"]:
        errors.append(f"{where}: {inst} < {schema['minimum']}")
    if TYPES["number"](inst) and "maximum" in schema and inst > schema["maximum"]:
        errors.append(f"{where}: {inst} > {schema['maximum']}")
    if isinstance(inst, list) and len(inst) < schema.get("minItems", 0):
        errors.append(f"{where}: fewer than {schema['minItems']} items")
    if (
        isinstance(inst, list)
        and schema.get("uniqueItems")
        and len(set(map(repr, inst))) < len(inst)
    ):
        errors.append(f"{where}: items repeat")
    if isinstance(inst, dict) and len(inst) < schema.get("minProperties", 0):
        errors.append(f"{where}: fewer than {schema['minProperties']} properties")
    if isinstance(inst, list) and "items" in schema:
        for i, item in enumerate(inst):
            errors += validate(item, schema["items"], root, f"{where}/{i}")
    if isinstance(inst, dict):
        props = schema.get("properties", {})
        patterns = schema.get("patternProperties", {})
        errors += [f"{where}: missing {r}" for r in schema.get("required", []) if r not in inst]
        for key, value in inst.items():
            matched = False
            if key in props:
                matched = True
                errors += validate(value, props[key], root, f"{where}/{key}")
            for pattern, sub in patterns.items():
                if re.search(pattern, key):
                    matched = True
                    errors += validate(value, sub, root, f"{where}/{key}")
            if not matched and "additionalProperties" in schema:
                errors += validate(value, schema["additionalProperties"], root, f"{where}/{key}")
            if "propertyNames" in schema:
                errors += validate(key, schema["propertyNames"], root, f"{where}/{key} (name)")
    return errors


@pytest.fixture(scope="module")
def format_schema() -> dict[str, Any]:
    result = CliRunner().invoke(app, ["schema"])
    assert result.exit_code == 0, result.output
    schema = json.loads(result.stdout)
    assert isinstance(schema, dict)
    return schema


def test_schema_command_prints_the_model_schema(format_schema: dict[str, Any]) -> None:
    assert format_schema == mapping_json_schema()
    assert format_schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert format_schema["title"] == "shimgen mapping file"
    assert format_schema["type"] == "object"
    assert format_schema["additionalProperties"] is False
    assert set(format_schema["required"]) == {
        "shim",
        "version",
        "owner",
        "internal",
        "external",
        "fields",
    }
    assert {"FieldRule", "DerivedRule", "SchemaRef"} <= set(format_schema["$defs"])
    for name in ("FieldRule", "DerivedRule", "SchemaRef"):
        assert format_schema["$defs"][name]["additionalProperties"] is False


def test_schema_is_well_formed(format_schema: dict[str, Any]) -> None:
    used = keywords(format_schema)
    assert used <= SUPPORTED | ANNOTATIONS, (
        f"keywords the test validator ignores: {used - SUPPORTED - ANNOTATIONS}"
    )
    refs = re.findall(r'"\$ref": "([^"]+)"', json.dumps(format_schema))
    assert refs
    for ref in refs:
        assert ref.removeprefix("#/$defs/") in format_schema["$defs"], ref
    for pattern in re.findall(r'"pattern": "([^"]+)"', json.dumps(format_schema)):
        re.compile(json.loads(f'"{pattern}"'))


_BILLING = "  billing: Billing operations - payment data, masked contact details\n"
_ELEVATED = (
    "  fraud:\n    description: Fraud review\n    elevated:\n      max_duration: 4h\n"
    "      approvals: 1\n      approvers: [support]\n      break_glass: 900\n"
)


@pytest.mark.parametrize("path", [*EXAMPLES, BASE], ids=lambda p: p.name)
def test_schema_validates_good_mappings(format_schema: dict[str, Any], path: Path) -> None:
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    assert validate(data, format_schema, format_schema) == []


@pytest.mark.parametrize(
    ("old", "new"),
    [
        ("version: 1\n", "version: 0\n"),
        ("version: 1\n", "version: three\n"),
        ("shim: person\n", "shim: Person\n"),
        ("owner: test-team\n", ""),
        ("owner: test-team\n", "owner: test-team\ncolour: blue\n"),
        ("  score: {to: score, treat: {round: 1}}\n", "  score: {to: score, tret: {round: 1}}\n"),
        ("  tags: {to: tags}\n", "  tags: {to: tags, inbound: [yes]}\n"),
        ("  name.given: pii\n", "  name.given: [pii]\n"),
        ("classification:\n", "levels: {confidential: private}\nclassification:\n"),
        ("  region: {const: eu}\n", "  region: {const: eu, groups: {support: mask}}\n"),
        ("  region: {const: eu}\n", "  region: {const: [eu]}\n"),
        (_BILLING, _BILLING + _ELEVATED.replace("max_duration: 4h", "max_duration: 1d")),
        (_BILLING, _BILLING + _ELEVATED.replace("approvals: 1", "approvals: 0")),
        (_BILLING, _BILLING + "  fraud:\n    description: x\n    elevated: null\n"),
        (_BILLING, _BILLING + _ELEVATED.replace("approvers: [support]", "approvers: []")),
    ],
)
def test_schema_rejects_what_the_loader_rejects(
    format_schema: dict[str, Any], tmp_path: Path, old: str, new: str
) -> None:
    text = BASE.read_text(encoding="utf-8").replace(old, new)
    assert load_mapping(write(tmp_path, text)).mapping is None
    assert validate(yaml.safe_load(text), format_schema, format_schema) != []


def test_schema_accepts_an_elevated_group(format_schema: dict[str, Any], tmp_path: Path) -> None:
    text = BASE.read_text(encoding="utf-8").replace(_BILLING, _BILLING + _ELEVATED)
    assert load_mapping(write(tmp_path, text)).mapping is not None
    assert validate(yaml.safe_load(text), format_schema, format_schema) == []


def test_schema_rejects_bad_group_names(format_schema: dict[str, Any], tmp_path: Path) -> None:
    text = BASE.read_text(encoding="utf-8").replace(
        "  support: Customer support", "  Support: Customer support"
    )
    assert load_mapping(write(tmp_path, text)).mapping is None
    assert validate(yaml.safe_load(text), format_schema, format_schema) != []


def test_jsonschema_package_agrees(format_schema: dict[str, Any]) -> None:
    import jsonschema  # a declared dev dependency: missing is an error, not a skip

    validator = jsonschema.Draft202012Validator(format_schema)
    jsonschema.Draft202012Validator.check_schema(format_schema)
    for path in [*EXAMPLES, BASE]:
        validator.validate(yaml.safe_load(path.read_text(encoding="utf-8")))


@pytest.mark.parametrize(
    ("spec", "ok"),
    [
        ("mask_email", True),
        ({"truncate": "month"}, True),
        ({"mask": {"keep_last": 4}}, True),
        ({"hash": {"length": 16}}, True),
        ({"bucket": [0, 18, 65]}, True),
        ({"map": {"A": "active", "S": 2}}, True),
        ('"[hidden]"', False),
        ("mask_phone", False),
        ("truncate", False),  # needs a unit
        ({"truncate": "week"}, False),
        ({"mask": {"keep_end": 4}}, False),
        ({"hash": {"length": 4}}, False),
        ({"bucket": []}, False),
        ({"map": {}}, False),
        ({"round": 1, "prefix": 2}, False),
    ],
)
def test_schema_knows_every_treatment_from_the_registry(
    format_schema: dict[str, Any], spec: Any, ok: bool
) -> None:
    treat = format_schema["$defs"]["Treatment"]
    assert (validate(spec, treat, format_schema) == []) is ok
    try:
        parse_treatment(spec)
    except TreatmentError:
        parsed = False
    else:
        parsed = True
    assert parsed is ok, "the editor schema and the parser agree"


def test_an_alias_loop_is_a_yaml_error_not_a_crash() -> None:
    """``&d [*d]`` names a node inside itself: following it would never end."""
    with pytest.raises(YamlError, match="loop") as info:
        load_with_positions("shim: x\ndescription: &d [*d]\n")
    assert info.value.pos == Pos(2, 14)  # the node that contains its own alias
    with pytest.raises(YamlError, match="loop"):
        load_with_positions("a: &a {b: {c: *a}}\n")


def test_aliases_may_repeat_a_node_but_not_expand_without_bound() -> None:
    """Nine levels of nine aliases stand for 387 million values (billion laughs)."""
    shared = load_with_positions("a: &a [1, 2]\nb: [*a, *a]\n")[0]
    assert shared == {"a": [1, 2], "b": [[1, 2], [1, 2]]}
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x]"]
    lines += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 9)}]" for i in range(1, 10)]
    with pytest.raises(YamlError, match="more than 1,000,000 values"):
        load_with_positions("\n".join(lines))


def test_a_name_outside_a_closed_list_is_named_with_the_likely_one(tmp_path: Path) -> None:
    """`tracking: {volme: log}` read "tracking.volme.[key]: Input should be 'volume', ...",
    pydantic's words and its mark for a dict key; now the key, and the name meant."""
    _, found = bad(
        tmp_path, "owner: test-team\n", "owner: test-team\ntracking: {volme: log, probing: dny}\n"
    )
    got = {m: h for _, _, _, m, h in found}
    assert got["unknown key `volme` in tracking"].startswith("did you mean `volume`? one of: ")
    assert got["tracking.probing: unknown value `dny`"] == (
        "did you mean `deny`? one of: log, flag, throttle, deny"
    )


@pytest.mark.parametrize(
    ("text", "hint"),
    [
        pytest.param(
            "shim: x\nfields:\n  a: drop\n   b: drop\n",
            "this line is indented further than the key above it; align it with its siblings",
            id="one-space-too-far",
        ),
        pytest.param(
            "shim: x\ndescription: a: b\n",
            'the value holds `: `; quote it (`key: "a: b"`)',
            id="colon-in-a-value",
        ),
        pytest.param(
            "shim: x\n\towner: o\n", "indent with spaces: YAML does not allow tabs", id="tab"
        ),
        pytest.param(
            'shim: x\nfields:\n  a: {why: "not closed}\n  c: drop\n',
            "a quoted value is not closed: look for a missing quote on or above this line",
            id="open-quote",
        ),
    ],
)
def test_a_yaml_error_hint_names_the_likely_mistake(tmp_path: Path, text: str, hint: str) -> None:
    """PyYAML's words say its state ("mapping values are not allowed in this context");
    the hint names the newcomer's mistake behind it (newuser9)."""
    path = tmp_path / "m.shim.yaml"
    path.write_text(text, encoding="utf-8")
    [finding] = load_mapping(path).findings
    assert finding.code is Code.YAML_SYNTAX and finding.hint == hint
