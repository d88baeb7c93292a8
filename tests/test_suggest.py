"""`shimgen init --suggest`: a comment with each field's likely external target, nothing opened."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from shimgen.initmap import initial_mapping
from shimgen.mapping.yamlpos import load_yaml
from shimgen.schema.loader import load_schema
from shimgen.schema.model import iter_leaves
from shimgen.suggest import Suggester, convention, fits, words
from tests.test_real_schemas import GITHUB, real_dir

__all__ = ["real_dir"]  # the fixture, re-used

INTERNAL = {
    "type": "object",
    "properties": {
        "user_name": {"type": "string"},
        "postCode": {"type": "string"},
        "address": {"type": "object", "properties": {"zip": {"type": "string"}}},
        "age": {"type": "integer"},
        "email": {"type": "string", "format": "email"},
        "flag": {"type": "boolean"},
        "secret": {"type": "string"},
        "born": {"type": "string", "format": "date"},
    },
}
EXTERNAL = {
    "type": "object",
    "properties": {
        "userName": {"type": "string"},
        "post-code": {"type": "string"},
        "billing": {"type": "object", "properties": {"zip": {"type": "string"}}},
        "contact": {
            "type": "object",
            "properties": {
                "address": {"type": "object", "properties": {"zip": {"type": "string"}}}
            },
        },
        "age": {"type": "number"},
        "email": {"type": "string"},
        "flag": {"type": "string"},
        "born": {"type": "string", "format": "date-time"},
    },
}


def _comments(text: str) -> dict[str, str]:
    out = {}
    for line in text.splitlines():
        if line.startswith("  ") and ": drop  # " in line:
            key, _, note = line.strip().partition(": drop  # ")
            out[key] = note.partition("; ")[2]
    return out


def _init(tmp_path: Path, internal: dict, external: dict) -> str:
    (tmp_path / "in.json").write_text(json.dumps(internal))
    (tmp_path / "out.json").write_text(json.dumps(external))
    return initial_mapping(
        "s", str(tmp_path / "in.json"), str(tmp_path / "out.json"), tmp_path, suggest=True
    )


def test_synthetic_suggestions(tmp_path: Path) -> None:
    notes = _comments(_init(tmp_path, INTERNAL, EXTERNAL))
    assert notes == {
        "user_name": "likely -> userName (same name, camelCase)",
        "postCode": "likely -> post-code (same name, kebab-case)",
        # the parent with words in common wins over the shorter path
        "address.zip": "likely -> contact.address.zip (same leaf under contact.address)",
        "age": "likely -> age (same name)",  # an integer fits a number
        "email": "likely -> email (same name)",  # a format may be dropped, not changed
        "flag": "no likely external target",  # a boolean does not fit a string
        "secret": "no likely external target",
        "born": "no likely external target",  # date is not date-time
    }


def test_suggest_never_opens_a_field_and_is_deterministic(tmp_path: Path) -> None:
    text = _init(tmp_path, INTERNAL, EXTERNAL)
    assert set(load_yaml(text)["fields"].values()) == {"drop"}
    assert _init(tmp_path, INTERNAL, EXTERNAL) == text
    plain = initial_mapping("s", str(tmp_path / "in.json"), str(tmp_path / "out.json"), tmp_path)
    assert [line.split("  #")[0] for line in plain.splitlines()] == [
        line.split("  #")[0] for line in text.splitlines()
    ], "--suggest only adds comments"


@pytest.mark.parametrize(
    ("name", "expected", "style"),
    [
        ("user_name", ("user", "name"), "snake_case"),
        ("userName", ("user", "name"), "camelCase"),
        ("UserName", ("user", "name"), "PascalCase"),
        ("user-name", ("user", "name"), "kebab-case"),
        ("HTMLParser", ("html", "parser"), "PascalCase"),
        ("id", ("id",), ""),
        ("Straße", ("strasse",), ""),  # words casefold; the conventions are ASCII
    ],
)
def test_words_and_conventions(name: str, expected: tuple[str, ...], style: str) -> None:
    assert words(name) == expected
    assert convention(name) == style


def test_github_private_user_to_public_user(real_dir: Path, tmp_path: Path) -> None:
    spec = str(real_dir / GITHUB)
    text = initial_mapping(
        "gh", f"{spec}#private-user", f"{spec}#public-user", tmp_path, suggest=True
    )
    notes = _comments(text)
    public = load_schema(real_dir / GITHUB, "public-user").root
    shared = {leaf.path for leaf in iter_leaves(public)}
    for key, note in notes.items():
        if (key,) in shared or tuple(key.split(".")) in shared:
            assert note == f"likely -> {key} (same name)", key
    # what only the private view has gets no target: 2FA, plan flags, LDAP
    for key in ("two_factor_authentication", "business_plus", "ldap_dn"):
        assert notes[key] == "no likely external target"
    assert set(load_yaml(text)["fields"].values()) == {"drop"}


def test_suggester_indexes_once() -> None:
    """Every external leaf is indexed by path, words and leaf name."""
    from shimgen.schema.model import Kind, SchemaNode

    leaf = SchemaNode(Kind.STRING)
    root = SchemaNode(
        Kind.OBJECT, properties={"a": SchemaNode(Kind.OBJECT, properties={"b_c": leaf})}
    )
    s = Suggester(root)
    assert list(s.exact) == [("a", "b_c")]
    assert [c.text for c in s.by_leaf[("b", "c")]] == ["a.b_c"]


def test_a_common_leaf_under_unrelated_parents_is_no_suggestion(tmp_path: Path) -> None:
    internal = {
        "type": "object",
        "properties": {"meta": {"type": "object", "properties": {"id": {"type": "string"}}}},
    }
    external = {
        "type": "object",
        "properties": {
            "card": {"type": "object", "properties": {"id": {"type": "string"}}},
            "plan": {"type": "object", "properties": {"id": {"type": "string"}}},
        },
    }
    assert _comments(_init(tmp_path, internal, external)) == {
        "meta.id": "no likely external target"
    }
    flat = {"type": "object", "properties": {"id": {"type": "string"}}}
    assert _comments(_init(tmp_path, internal, flat)) == {
        "meta.id": "likely -> id (same leaf under the root)"
    }


def test_a_target_taken_by_name_is_not_guessed_again(tmp_path: Path) -> None:
    string = {"type": "string"}
    internal = {
        "type": "object",
        "properties": {
            "id": string,
            "enterprise": {"type": "object", "properties": {"id": string}},
        },
    }
    external = {"type": "object", "properties": {"id": string}}
    assert _comments(_init(tmp_path, internal, external)) == {
        "id": "likely -> id (same name)",
        "enterprise.id": "no likely external target",
    }


def test_same_leaf_needs_a_parent_word_in_common_or_the_root(tmp_path: Path) -> None:
    string = {"type": "string"}

    def obj(**props: object) -> dict[str, object]:
        return {"type": "object", "properties": props}

    internal = obj(text=obj(status=string), home=obj(zip=string), city=string)
    external = obj(subscription=obj(status=string), zip=string, address=obj(city=string))
    assert _comments(_init(tmp_path, internal, external)) == {
        "text.status": "no likely external target",
        "home.zip": "likely -> zip (same leaf under the root)",
        "city": "likely -> address.city (same leaf under address)",
    }


def test_fits_compares_array_levels_and_stops_on_a_self_array() -> None:
    from shimgen.schema.model import Kind, SchemaNode

    def array(items: SchemaNode) -> SchemaNode:
        return SchemaNode(Kind.ARRAY, items=items)

    ints, strings = SchemaNode(Kind.INTEGER), SchemaNode(Kind.STRING)
    assert fits(array(array(ints)), array(array(SchemaNode(Kind.NUMBER))))
    assert not fits(array(array(ints)), array(array(strings)))
    selfish = SchemaNode(Kind.ARRAY)
    selfish.items = selfish  # A = array of A
    assert fits(selfish, selfish)
