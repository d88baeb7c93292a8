"""Hypothesis strategies: JSON Schema and OpenAPI 3 documents as real ones are, odd corners included.

Used by ``tests/test_fuzz_chain.py``. The shapes are what public schemas
contain (nesting, ``$ref`` into ``$defs``/``definitions``/``components``,
``oneOf``/``anyOf``/``allOf``, arrays and maps, enums, formats, the spellings
of "or null", recursive definitions), and the names are what breaks tools:
dots, spaces, brackets, quotes, unicode, YAML's booleans, Python keywords,
very long names. A :class:`Doc` also records which odd features it used, so
the test can excuse a crash that another engineer owns, by its signature only.
"""

from __future__ import annotations

import json
import keyword
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

from hypothesis import strategies as st

# Names that break tools; each is also a valid JSON object key.
YAML_WORDS = ["on", "off", "yes", "no", "y", "n", "true", "false", "null", "~", "On", "NO"]
PY_WORDS = ["class", "def", "from", "import", "None", "True", "lambda", "self", "model_config"]
ODD_NAMES = [
    "a.b",
    "io.k8s.api.core.v1.Pod",
    "with space",
    " lead",
    "x[0]",
    "[]",
    "a]b[",
    'say "hi"',
    "it's",
    "naïve",
    "名前",
    "emoji😀",
    "ß",
    "-dash",
    "1st",
    "$ref",
    "#hash",
    "a/b",
    "~tilde",
    "%20",
    "{brace}",
    "a: b",
    "*star",
    "&anchor",
    "!tag",
    "__dunder__",
    "_",
    "",
]


@dataclass
class Doc:
    """One generated schema document and what it exercises."""

    data: dict[str, Any]
    model: str | None  # None: the document root is the model
    openapi: bool
    features: set[str] = field(default_factory=set)

    def text(self) -> str:
        return json.dumps(self.data, ensure_ascii=False, indent=1)


def classify_name(name: str) -> set[str]:
    """The odd-name features of ``name`` (used to excuse known, owned crashes)."""
    found = set()
    if any(c in name for c in ".[] ") or not name:
        found.add("path-char-name")
    if name in YAML_WORDS or name.lower() in YAML_WORDS:
        found.add("yaml-word-name")
    if keyword.iskeyword(name) or name in PY_WORDS:
        found.add("python-word-name")
    if not name.isascii():
        found.add("unicode-name")
    if len(name) > 60:
        found.add("long-name")
    if not name.replace("_", "a").isalnum():
        found.add("punctuation-name")
    return found


SIMPLE_NAMES = ["id", "name", "email", "status", "created_at", "items", "meta", "value", "x", "b2"]
LONG_NAMES = ["a" * 100, "é" * 80, "long_" * 50, "Z" * 255]
# Characters that mean something to paths, YAML, JSON pointers, URIs or Python, and non-ASCII.
ALPHABET = [*"abcxyzAB019_-.[] \"'$#/~%:{}*&!@é名😀", "\u200b", "\u00a0"]
plain_names = st.sampled_from(SIMPLE_NAMES)
odd_names = st.one_of(
    plain_names,
    st.sampled_from(YAML_WORDS + PY_WORDS + ODD_NAMES + LONG_NAMES),
    st.text(alphabet=st.sampled_from(ALPHABET), min_size=1, max_size=8),
)

FORMATS = ["date", "date-time", "email", "uuid", "uri", "time", "ipv4", "byte", "int64", "weird"]
DATE_PATTERNS = [
    r"^\d{4}-\d{2}-\d{2}$",
    r"([0-9]([0-9]([0-9][1-9]|[1-9]0)|[1-9]00)|[1-9]000)(-(0[1-9]|1[0-2])(-(0[1-9]|[1-2][0-9]|3[0-1]))?)?",
]
scalars = st.one_of(
    st.integers(-5, 5), st.text(max_size=5), st.booleans(), st.none(), st.floats(-2, 2)
)


def _string() -> st.SearchStrategy[dict[str, Any]]:
    base = st.fixed_dictionaries(
        {"type": st.just("string")},
        optional={
            "format": st.sampled_from(FORMATS),
            "pattern": st.sampled_from(DATE_PATTERNS),
            "maxLength": st.integers(0, 40),
            "x-classification": st.sampled_from(["pii", "secret", "public", "internal", "bogus"]),
            "description": st.text(max_size=20),
        },
    )
    enum = st.lists(st.text(max_size=6), min_size=1, max_size=5, unique=True).map(
        lambda vs: {"type": "string", "enum": vs}
    )
    return st.one_of(base, enum)


def leaves() -> st.SearchStrategy[dict[str, Any]]:
    return st.one_of(
        _string(),
        st.sampled_from(
            [
                {"type": "integer"},
                {"type": "integer", "format": "int64", "minimum": 0},
                {"type": "number"},
                {"type": "boolean"},
                {"type": "null"},
                {},
                {"type": ["string", "null"]},
                {"type": ["integer", "string"]},
                {"type": "string", "nullable": True},
                {"type": "string", "format": "date", "readOnly": True},
                {"const": "fixed"},
                {"const": None},
            ]
        ),
        st.lists(scalars, min_size=1, max_size=4, unique_by=repr).map(lambda vs: {"enum": vs}),
    )


def _object(
    children: st.SearchStrategy[dict[str, Any]], names: st.SearchStrategy[str], min_size: int = 0
) -> st.SearchStrategy[dict[str, Any]]:
    properties = st.dictionaries(names, children, min_size=min_size, max_size=3)

    @st.composite
    def build(draw: st.DrawFn) -> dict[str, Any]:
        props = draw(properties)
        out: dict[str, Any] = {"type": "object", "properties": props}
        if props and draw(st.booleans()):
            out["required"] = draw(st.lists(st.sampled_from(sorted(props)), unique=True))
        extra = draw(st.sampled_from([None, False, True, "schema"]))
        if extra == "schema":
            out["additionalProperties"] = draw(children)
        elif extra is not None:
            out["additionalProperties"] = extra
        if draw(st.integers(0, 9)) == 0:
            del out["type"]  # properties without a type: still an object
        return out

    return build()


def composites(
    children: st.SearchStrategy[dict[str, Any]], names: st.SearchStrategy[str]
) -> st.SearchStrategy[dict[str, Any]]:
    branches = st.lists(children, min_size=1, max_size=3)
    return st.one_of(
        _object(children, names),
        children.map(lambda c: {"type": "array", "items": c}),
        children.map(lambda c: {"type": "object", "additionalProperties": c}),
        branches.map(lambda bs: {"oneOf": bs}),
        branches.map(lambda bs: {"anyOf": bs}),
        branches.map(lambda bs: {"allOf": bs}),
        children.map(lambda c: {"anyOf": [c, {"type": "null"}]}),
        children.map(lambda c: {"allOf": [c], "nullable": True, "description": "wrapped"}),
        st.lists(children, min_size=2, max_size=3).map(
            lambda cs: {"type": "array", "prefixItems": cs}
        ),
        children.map(lambda c: {"type": "object", "patternProperties": {"^x-": c}}),
    )


def pointer(table: tuple[str, ...], name: str) -> str:
    """``#/$defs/NAME`` with RFC 6901 escapes and percent-encoding, as a URI fragment."""
    escaped = name.replace("~", "~0").replace("/", "~1")
    return "#/" + "/".join((*table, quote(escaped, safe="~")))


_REF = "$fuzz-ref"  # a placeholder, pointed at a definition once the names are drawn


def _nodes(names: st.SearchStrategy[str]) -> st.SearchStrategy[Any]:
    refs = st.integers(0, 2).map(lambda i: {_REF: i})
    return st.recursive(st.one_of(leaves(), refs), lambda c: composites(c, names), max_leaves=6)


# Half the documents use plain names only, so that the chain gets past `init` and `check`
# to `generate` often; the other half mix in odd names (every name drawn from odd_names).
STYLES = {
    "plain": (plain_names, _nodes(plain_names)),
    "odd": (odd_names, _nodes(odd_names)),
}
ROOTS = {style: _object(nodes, names, min_size=1) for style, (names, nodes) in STYLES.items()}


def _point(value: Any, targets: list[str]) -> Any:
    """Replace each placeholder by a ``$ref`` to a target (a string schema if there is none)."""
    if isinstance(value, list):
        return [_point(v, targets) for v in value]
    if not isinstance(value, dict):
        return value
    if _REF in value:
        return {"$ref": targets[value[_REF] % len(targets)]} if targets else {"type": "string"}
    return {k: _point(v, targets) for k, v in value.items()}


@st.composite
def documents(draw: st.DrawFn) -> Doc:
    """A JSON Schema (draft-07 or 2020-12) or OpenAPI 3.0/3.1 document and its model."""
    kind = draw(st.sampled_from(["2020-12", "draft-07", "openapi-3.0", "openapi-3.1"]))
    openapi = kind.startswith("openapi")
    table = (
        ("components", "schemas")
        if openapi
        else (("$defs",) if kind == "2020-12" else ("definitions",))
    )
    style = draw(st.sampled_from(sorted(STYLES)))
    names, nodes = STYLES[style]
    def_names = draw(st.lists(names, max_size=3, unique=True))
    features: set[str] = set()
    for name in def_names:
        features |= {f"def-{f}" for f in classify_name(name)}
    targets = [pointer(table, n) for n in def_names]
    defs = {name: _point(draw(nodes), targets) for name in def_names}
    root = _point(draw(ROOTS[style]), targets)
    data: dict[str, Any]
    if openapi:
        model = draw(names.filter(lambda n: n not in defs))
        features |= {f"model-{f}" for f in classify_name(model)}
        data = {
            "openapi": "3.0.3" if kind == "openapi-3.0" else "3.1.0",
            "info": {"title": "fuzz", "version": "1"},
            "paths": {},
            "components": {"schemas": {**defs, model: root}},
        }
        return Doc(data, model, True, features)
    dialect = (
        "https://json-schema.org/draft/2020-12/schema"
        if kind == "2020-12"
        else "http://json-schema.org/draft-07/schema#"
    )
    data = {"$schema": dialect, "title": "Root", **root}
    if defs:
        data[table[0]] = defs
    model = None
    if defs and draw(st.booleans()):
        model = draw(st.sampled_from(sorted(defs)))
        features |= {f"model-{f}" for f in classify_name(model)}
    return Doc(data, model, False, features)


def property_features(data: Any) -> set[str]:
    """Odd-name features of every property name anywhere in ``data``."""
    found: set[str] = set()
    todo = [data]
    while todo:
        item = todo.pop()
        if isinstance(item, dict):
            props = item.get("properties")
            if isinstance(props, dict):
                for name in props:
                    found |= {f"prop-{f}" for f in classify_name(name)}
            todo.extend(item.values())
        elif isinstance(item, list):
            todo.extend(item)
    return found
