"""Names are data: any property name can be addressed, and `init` writes what `check` reads.

Covers the path syntax (quoted names, positioned errors), YAML 1.2 keys (`on`,
`yes`, `1`, `~` stay names) and init's quoting, end to end through check and
translate.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from shimgen.check import check_mapping
from shimgen.cli import app
from shimgen.initmap import initial_mapping
from shimgen.mapping.yamlpos import load_yaml
from shimgen.mapping.yamltext import scalar
from shimgen.schema.model import ARRAY, Kind, SchemaNode, lookup, parse_path
from shimgen.schema.pathsyntax import PathSyntaxError, format_path
from tests.test_real_schemas import real_dir

__all__ = ["real_dir"]  # the fixture, re-used

ODD = [
    "on",
    "off",
    "yes",
    "no",
    "y",
    "n",
    "true",
    "null",
    "~",
    "1",
    "0x10",
    "1.5",
    "2024-03-01",
    "cupsecureplus.smscode",
    "a[]",
    "[0]",
    "first name",
    ' say "hi" ',
    "back\\slash",
    "#hash",
    "- item",
    "x: y",
    "<<",
    "",
    "prénom",
    "名前",
    "tab\there",
    "line\nbreak",
    "\u2028",
    "😀",
]
"""Names that broke, or could break, a path or a YAML key."""

NAMES = st.one_of(
    st.sampled_from(ODD),
    st.text(max_size=12),
    st.text(st.characters(codec=None, categories=["Cc", "Cf", "Zl", "Zp", "Zs"]), max_size=3),
).filter(lambda n: n != ARRAY)


# -- the path syntax --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "text"),
    [
        (("cards", ARRAY, "number"), "cards[].number"),
        (("payment", "cupsecureplus.smscode"), 'payment."cupsecureplus.smscode"'),
        (("a[]", ARRAY), '"a[]"[]'),
        (("first name",), '"first name"'),
        (('say "hi"',), '"say \\"hi\\""'),
        (("back\\slash",), '"back\\\\slash"'),
        (("prénom", "名前"), "prénom.名前"),
        (("",), '""'),
        (("on", "1", "~"), "on.1.~"),
    ],
)
def test_format_and_parse(path: tuple[str, ...], text: str) -> None:
    assert format_path(path) == text
    assert parse_path(text) == path


def test_plain_names_may_be_quoted_and_may_hold_inner_spaces() -> None:
    assert parse_path('"email".x') == ("email", "x")
    assert parse_path("first name.x") == ("first name", "x")  # what older mappings wrote


@given(st.lists(st.tuples(NAMES, st.integers(0, 2)), min_size=1, max_size=5))
def test_path_text_round_trips_for_any_names(parts: list[tuple[str, int]]) -> None:
    path = tuple(seg for name, arrays in parts for seg in (name, *[ARRAY] * arrays))
    text = format_path(path)
    assert parse_path(text) == path
    assert text.isprintable()  # one line, whatever the names hold
    # and the text survives being a YAML key and a YAML value
    assert list(load_yaml(f"{scalar(text)}: 1\n")) == [text]
    assert load_yaml(f"k: {scalar(text)}\n") == {"k": text}
    assert load_yaml(f"k: {{to: {scalar(text, flow=True)}}}\n") == {"k": {"to": text}}


@given(NAMES)
def test_yaml_scalars_read_back_in_yaml_1_1_too(name: str) -> None:
    """Editors and other tools may read YAML 1.1, where `on` is a boolean: init quotes it."""
    assert yaml.safe_load(f"{scalar(name)}: 1\n") == {name: 1}
    assert yaml.safe_load(f"k: {scalar(name)}\n") == {"k": name}


@pytest.mark.parametrize(
    ("text", "offset", "words"),
    [
        ("a.", 1, "ends with `.`"),
        (".a", 0, "expected a field name"),
        ("a..b", 2, "expected a field name"),
        ("a[0]", 1, "must be followed by `]`"),
        ("a]", 1, "unexpected `]`"),
        ('"a.b', 0, "is not closed"),
        ('"a"b', 3, "unexpected `b`"),
        ("a\\.b", 1, "a backslash does not escape"),
        ('"[]"', 0, "cannot be addressed"),
        (" a", 0, "starts or ends with a space"),
        ("a\tb", 1, "control character"),
    ],
)
def test_bad_paths_say_where(text: str, offset: int, words: str) -> None:
    with pytest.raises(PathSyntaxError) as err:
        parse_path(text)
    assert err.value.offset == offset and words in err.value.message


def test_backslash_hint_gives_the_quoted_spelling() -> None:
    with pytest.raises(PathSyntaxError) as err:
        parse_path("payment.cupsecureplus\\.smscode")
    assert '`payment."cupsecureplus.smscode"`' in err.value.hint


def test_a_split_dotted_name_is_named_in_the_hint() -> None:
    leaf = SchemaNode(Kind.STRING)
    root = SchemaNode(
        Kind.OBJECT,
        properties={"payment": SchemaNode(Kind.OBJECT, properties={"cupsecureplus.smscode": leaf})},
    )
    assert lookup(root, parse_path('payment."cupsecureplus.smscode"')) is leaf
    with pytest.raises(Exception) as err:
        lookup(root, ("payment", "cupsecureplus", "smscode"))
    assert '`payment."cupsecureplus.smscode"`' in getattr(err.value, "hint", "")


def test_a_misspelt_field_is_named_first_in_the_hint() -> None:
    """The hint lists eight fields and `N more`; the one meant comes first, wherever it sorts."""
    names = [f"field_{i:02}" for i in range(20)] + ["location"]
    leaf = SchemaNode(Kind.STRING)
    root = SchemaNode(
        Kind.OBJECT,
        properties={
            "owner": SchemaNode(
                Kind.ARRAY, items=SchemaNode(Kind.OBJECT, properties={n: leaf for n in names})
            )
        },
    )
    with pytest.raises(Exception) as err:
        lookup(root, parse_path("owner[].locaton"))
    hint = getattr(err.value, "hint", "")
    assert hint.startswith("did you mean `owner[].location`? fields of owner[]: field_00, ")
    with pytest.raises(Exception) as err:
        lookup(root, parse_path("owner[].zzz"))
    assert "did you mean" not in getattr(err.value, "hint", "")


# -- init -> check on odd names ---------------------------------------------------------


def _schema(props: dict[str, Any]) -> dict[str, Any]:
    return {"$defs": {"Rec": {"type": "object", "properties": props}}}


def _init_and_check(home: Path, schema: dict[str, Any], edit: Any = None) -> tuple[str, list[str]]:
    (home / "s.json").write_text(json.dumps(schema))
    spec = f"{home / 's.json'}#Rec"
    text = initial_mapping("odd", spec, spec, home)
    if edit is not None:
        text = edit(text)
    target = home / "odd.shim.yaml"
    target.write_text(text, encoding="utf-8")
    return text, [f.format() for f in check_mapping(target).findings]


def test_init_then_check_is_clean_on_odd_names(tmp_path: Path) -> None:
    props = {name: {"type": "string"} for name in ODD}
    props["nested.obj"] = {
        "type": "object",
        "properties": {
            "in.ner": {"type": "integer"},
            "list": {"type": "array", "items": {"type": "object", "properties": {"k.k": {}}}},
        },
    }
    text, findings = _init_and_check(tmp_path, _schema(props))
    assert findings == []
    keys = list(load_yaml(text)["fields"])
    assert "on" in keys and '"cupsecureplus.smscode"' in keys and '"a[]"' in keys
    assert '"first name"' in keys and '"nested.obj".list[]."k.k"' in keys
    assert "  'on': drop  # string" in text.split("\n")  # YAML 1.1 readers get a string too


@pytest.mark.filterwarnings("ignore:ephemeral development keyset")
def test_regressions_on_yes_dotted_brackets_spaces_end_to_end(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Open every field and translate: the record comes out as it went in."""
    names = ["on", "yes", "cupsecureplus.smscode", "a[]", "first name", "1", "~"]
    props = {name: {"type": "string"} for name in names}
    schema = _schema(props)
    schema["$defs"]["Rec"]["required"] = ["on"]
    text, findings = _init_and_check(tmp_path, schema, lambda t: t.replace(": drop", ": pass"))
    assert findings == [], text
    monkeypatch.setenv("SHIM_DEV_KEYS", "1")
    record = {name: f"v{i}" for i, name in enumerate(names)}
    result = CliRunner().invoke(
        app,
        ["translate", str(tmp_path / "odd.shim.yaml"), "--dev-keys"],
        input=json.dumps(record) + "\n",
    )
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == record


def test_to_and_from_address_dotted_names(tmp_path: Path) -> None:
    props = {
        "card.code": {"type": "string"},
        "first name": {"type": "string"},
        "on": {"type": "string"},
    }
    (tmp_path / "s.json").write_text(json.dumps(_schema(props)))
    mapping = tmp_path / "m.shim.yaml"
    mapping.write_text(
        "shim: m\nversion: 1\nowner: t\n"
        "internal: {schema: s.json, model: Rec}\nexternal: {schema: s.json, model: Rec}\n"
        "fields:\n"
        "  '\"card.code\"': {to: '\"first name\"'}\n"
        "  '\"first name\"': drop\n"
        "  on: drop\n"
        "derived:\n"
        '  on: {from: [\'"card.code"\'], template: "{0}", why: same code}\n'
    )
    assert [f.format() for f in check_mapping(mapping).findings] == []


def test_malformed_paths_are_positioned_findings(tmp_path: Path) -> None:
    (tmp_path / "s.json").write_text(json.dumps(_schema({"a.b": {"type": "string"}})))
    mapping = tmp_path / "m.shim.yaml"
    mapping.write_text(
        "shim: m\nversion: 1\nowner: t\n"
        "internal: {schema: s.json, model: Rec}\nexternal: {schema: s.json, model: Rec}\n"
        "fields:\n"
        "  a\\.b: drop\n"  # line 7
        "  '\"a.b': drop\n"  # line 8
        "  '\"a.b\"': {to: 'x[0]'}\n"  # line 9
        "  a.b: drop\n"  # line 10
    )
    found = {(f.line, f.col, f.code): f for f in check_mapping(mapping).findings}
    assert (7, 4, "SG102") in found  # at the backslash
    assert '"a.b"' in found[(7, 4, "SG102")].hint
    assert (8, 4, "SG102") in found  # at the opening quote, inside the YAML quotes
    assert (9, 19, "SG103") in found, sorted(found)  # at the `[` inside `to:`
    assert "quote it" in found[(10, 3, "SG102")].hint


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.recursive(
        st.sampled_from([{"type": "string"}, {"type": "integer"}, {"type": "boolean"}]),
        lambda inner: st.one_of(
            st.dictionaries(NAMES, inner, min_size=1, max_size=4).map(
                lambda p: {"type": "object", "properties": p, "required": list(p)[:1]}
            ),
            st.dictionaries(NAMES, inner, min_size=1, max_size=3).map(
                lambda p: {"type": "array", "items": {"type": "object", "properties": p}}
            ),
        ),
        max_leaves=12,
    ).filter(lambda s: s.get("type") == "object")
)
def test_init_then_check_is_clean_for_any_property_names(root: dict[str, Any]) -> None:
    """Whatever the property names, init's mapping is one that check accepts.

    Only SG105 may remain: a required external field wants a source, the author's next step.
    """
    with tempfile.TemporaryDirectory() as home:
        _, findings = _init_and_check(Path(home), {"$defs": {"Rec": root}})
    assert [f for f in findings if "error[SG105]" not in f] == []


def test_docs_path_examples_parse() -> None:
    """Every path in docs/paths.md's syntax table parses, and formats back to itself."""
    doc = (Path(__file__).parent.parent / "docs" / "paths.md").read_text(encoding="utf-8")
    table = doc.split("## Syntax", 1)[1].split("\n\n", 2)[1]
    cells = [line.split(" | ")[0].removeprefix("| ") for line in table.splitlines()[2:]]
    examples = [ex for cell in cells for ex in cell.strip("`").split("`, `")]
    assert len(examples) >= 9
    for text in examples:
        assert format_path(parse_path(text)) == text
    snippet = doc.split("```yaml\n", 1)[1].split("```", 1)[0]
    data = load_yaml(snippet)
    assert [parse_path(k) for k in data["fields"]] == [
        ("first name",),
        ("payment", "cupsecureplus.smscode"),
        ("on",),
    ]


@pytest.mark.parametrize(
    ("internal", "external"),
    [
        ("box-platform.openapi.json#User--Full", "box-platform.openapi.json#User--Mini"),
        (
            "k8s-pod-deployment.definitions.json#io.k8s.api.core.v1.Pod",
            "k8s-pod-deployment.definitions.json#io.k8s.api.core.v1.Pod",
        ),
        ("schemastore-github-workflow.schema.json", "schemastore-github-workflow.schema.json"),
    ],
)
def test_cli_init_takes_odd_model_names_and_check_reads_it_back(
    real_dir: Path, tmp_path: Path, internal: str, external: str
) -> None:
    """`--internal FILE#MODEL` with `--` or dots in MODEL; the workflow has a property `on`."""
    target = tmp_path / "real.shim.yaml"
    args = ["init", "real", "--internal", f"{real_dir}/{internal}"]
    args += ["--external", f"{real_dir}/{external}", "-o", str(target), "--suggest"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    findings = check_mapping(target).findings
    assert [f.format() for f in findings if f.code != "SG105"] == []
    model = internal.partition("#")[2]
    data = load_yaml(target.read_text())
    assert data["internal"].get("model", "") == model
    if "workflow" in internal:  # was read as True: `internal True does not exist`
        assert "on" in data["fields"] and "\n  'on': drop" in target.read_text()


def test_two_spellings_of_one_field_are_refused(tmp_path: Path) -> None:
    """`class` and `"class"` are one field: one entry may not drop what the other passes."""
    (tmp_path / "s.json").write_text(json.dumps(_schema({"class": {"type": "string"}})))
    mapping = tmp_path / "m.shim.yaml"
    mapping.write_text(
        "shim: m\nversion: 1\nowner: t\n"
        "internal: {schema: s.json, model: Rec}\nexternal: {schema: s.json, model: Rec}\n"
        "fields:\n  class: drop\n  '\"class\"': pass\n"
    )
    found = [(f.line, f.code, f.message) for f in check_mapping(mapping).findings]
    assert found == [(8, "SG002", '`"class"` names the same field as `class` (line 7)')]
