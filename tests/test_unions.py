"""Unions copied whole: every union shape, check and generate agree.

Each base shape below is tried as a field, as a nullable field, as array
items and as map values. A shape the checker accepts must generate (the whole
package, not only translate.py) and translate its samples exactly: output is
the input restricted to the declared fields of the branch it matches, and a
value that matches no branch is a 422 with a pointer. A shape the checker
refuses must get a positioned finding that names the branches.
"""

from __future__ import annotations

import importlib
import json
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from shimgen.check import check_mapping
from shimgen.diagnostics import Code
from shimgen.render.generate import render_package
from tests.expected import translator

DEFS: dict[str, Any] = {
    "Card": {
        "type": "object",
        "required": ["kind", "last4"],
        "properties": {
            "kind": {"const": "card"},
            "last4": {"type": "string"},
            "brand": {"type": "string"},
        },
    },
    "Bank": {
        "type": "object",
        "required": ["kind", "iban"],
        "properties": {"kind": {"const": "bank"}, "iban": {"type": "string"}},
    },
    "A": {
        "type": "object",
        "required": ["a"],
        "properties": {"a": {"type": "string"}, "x": {"type": "integer"}},
    },
    "B": {
        "type": "object",
        "required": ["b"],
        "properties": {"b": {"type": "string"}, "x": {"type": "integer"}},
    },
    "Loose": {"type": "object", "properties": {"a": {"type": "string"}}},
    "P": {
        "type": "object",
        "required": ["type"],
        "properties": {"type": {"type": "string"}, "p": {"type": "integer"}},
    },
    "Q": {
        "type": "object",
        "required": ["type"],
        "properties": {"type": {"type": "string"}, "q": {"type": "integer"}},
    },
    "Labels": {"type": "object", "additionalProperties": {"type": "string"}},
    "Stub": {"type": "object", "additionalProperties": True, "x-extract-stub": True},
    "Tree": {"oneOf": [{"type": "string"}, {"type": "array", "items": {"$ref": "#/$defs/Tree"}}]},
}


def ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/$defs/{name}"}


@dataclass
class Shape:
    name: str
    schema: dict[str, Any]
    samples: list[tuple[Any, Any]] = field(default_factory=list)  # (input, output)
    bad: list[tuple[Any, str]] = field(default_factory=list)  # (input, pointer below the value)
    refused: tuple[str, ...] = ()  # branch names the finding must give
    code: Code = Code.NOT_APPLICABLE


CARD = {"kind": "card", "last4": "4242", "brand": "visa", "cvv": "123"}
BANK = {"kind": "bank", "iban": "DE89", "owner": "hidden"}
SHAPES = [
    Shape("scalars", {"type": ["string", "integer"]}, [("x", "x"), (3, 3)], [(1.5, "")]),
    Shape(
        "scalar_enum",
        {"oneOf": [{"enum": ["a", "b"]}, {"type": "integer"}]},
        [("a", "a"), (7, 7)],
        [("c", ""), (True, "")],
    ),
    Shape(
        "tagged",
        {"oneOf": [ref("Card"), ref("Bank")]},
        [
            (CARD, {"kind": "card", "last4": "4242", "brand": "visa"}),
            (BANK, {"kind": "bank", "iban": "DE89"}),
        ],
        [({"kind": "paypal"}, "/kind"), ({"last4": "1"}, "/kind"), ("card", "")],
    ),
    Shape(
        "discriminator",
        {
            "oneOf": [ref("P"), ref("Q")],
            "discriminator": {"propertyName": "type", "mapping": {"pee": "#/$defs/P"}},
        },
        [
            ({"type": "pee", "p": 1, "q": 2}, {"type": "pee", "p": 1}),
            ({"type": "Q", "p": 1, "q": 2}, {"type": "Q", "q": 2}),
        ],
        [({"type": "P"}, "/type"), ({"p": 1}, "/type")],
    ),
    Shape(
        "structural",
        {"anyOf": [ref("A"), ref("B")]},
        [({"a": "1", "x": 2, "junk": 3}, {"a": "1", "x": 2}), ({"b": "2"}, {"b": "2"})],
        [({"x": 1}, ""), ({"a": "1", "b": "2"}, "")],
    ),
    Shape(
        "string_or_object",
        {"anyOf": [{"type": "string"}, ref("A")]},
        [("id_1", "id_1"), ({"a": "1", "z": 0}, {"a": "1"})],
        [(5, ""), ({"a": 5}, "/a")],
    ),
    Shape(
        "array_or_object",
        {"anyOf": [{"type": "array", "items": {"type": "string"}}, ref("Card")]},
        [(["a"], ["a"]), (CARD, {"kind": "card", "last4": "4242", "brand": "visa"})],
        [([1], "/0")],
    ),
    Shape(
        "arrays_of_scalars",
        {
            "anyOf": [
                {"type": "array", "items": {"type": "string"}},
                {"type": "array", "items": {"type": "integer"}},
            ]
        },
        [(["a", "b"], ["a", "b"]), ([1, 2], [1, 2]), ([], [])],
        [(["a", 1], "")],
    ),
    Shape(
        "arrays_of_objects",
        {
            "anyOf": [
                {"type": "array", "items": ref("Card")},
                {"type": "array", "items": ref("A")},
            ]
        },
        refused=("array of Card", "array of A"),
    ),
    Shape("ambiguous", {"anyOf": [ref("A"), ref("Loose")]}, refused=("A", "Loose")),
    Shape("map_or_object", {"anyOf": [ref("Labels"), ref("A")]}, refused=("Labels", "A")),
    Shape("free_form", ref("Stub"), [({"a": 1, "b": {"c": [2]}}, {}), ({}, {})], [("x", "")]),
    Shape(
        "object_or_free_form",
        {"anyOf": [ref("A"), ref("Stub"), {"type": "string"}]},
        [({"a": "1", "x": 2, "z": 3}, {"a": "1", "x": 2}), ({"b": 1}, {}), ("s", "s")],
        [({"a": 5}, "/a")],
    ),
    Shape(
        "tagged_or_free_form",
        {"oneOf": [ref("Card"), ref("Bank"), ref("Stub")]},
        [
            (CARD, {"kind": "card", "last4": "4242", "brand": "visa"}),
            ({"kind": "coupon", "percent": 5}, {}),
            ({"iban": "DE89"}, {}),
        ],
    ),
    Shape(
        "shapes_or_free_form",
        {"oneOf": [ref("A"), ref("B"), ref("Stub")]},
        [({"a": "1", "q": 1}, {"a": "1"}), ({"b": "2"}, {"b": "2"}), ({"c": 3}, {})],
    ),
    Shape(
        "recursive",
        ref("Tree"),
        [("leaf", "leaf"), (["a", ["b", ["c", []]]], ["a", ["b", ["c", []]]])],
        [(["a", [1]], "/1/0")],
    ),
]

CONTAINERS = ("field", "nullable", "items", "values")


def wrap(container: str, schema: dict[str, Any]) -> dict[str, Any]:
    if container == "nullable":
        return {"anyOf": [schema, {"type": "null"}]}
    if container == "items":
        return {"type": "array", "items": schema}
    if container == "values":
        return {"type": "object", "additionalProperties": schema}
    return schema


def wrap_value(container: str, value: Any) -> Any:
    if container == "items":
        return [value, value]
    if container == "values":
        return {"k": value, "k/2": value}
    return value


def key(shape: Shape, container: str) -> str:
    return f"{shape.name}_{container}"


def write(tmp: Path, name: str, shapes: list[Shape]) -> Path:
    props = {key(s, c): wrap(c, s.schema) for s in shapes for c in CONTAINERS}
    schema = {"$defs": DEFS, "type": "object", "properties": props}
    (tmp / f"{name}.json").write_text(json.dumps(schema, indent=1))
    lines = [
        f"shim: {name}",
        "version: 1",
        "owner: tests",
        "description: union shapes copied whole",
        f"internal: {{schema: {name}.json}}",
        f"external: {{schema: {name}.json}}",
        "fields:",
        *(f"  {k}: pass" for k in props),
    ]
    path = tmp / f"{name}.shim.yaml"
    path.write_text("\n".join(lines) + "\n")
    return path


ACCEPTED = [s for s in SHAPES if not s.refused]
REFUSED = [s for s in SHAPES if s.refused]


@pytest.fixture(scope="module")
def accepted(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write(tmp_path_factory.mktemp("unions"), "accepted", ACCEPTED)


@pytest.fixture(scope="module")
def generated(accepted: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ModuleType]:
    """The translate module of the whole generated package, imported from disk."""
    plan = check_mapping(accepted).plan
    assert plan is not None
    out = tmp_path_factory.mktemp("pkg")
    for rel, text in render_package(plan).items():
        target = out / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text)
    pkg = next(p.parent.name for p in out.glob("*/translate.py"))
    sys.path.insert(0, str(out))
    try:
        yield importlib.import_module(f"{pkg}.translate")  # no keys: no hash or token here
    finally:
        sys.path.remove(str(out))
        for name in [m for m in sys.modules if m.split(".")[0] == pkg]:
            del sys.modules[name]


def test_check_accepts_every_dispatchable_shape(accepted: Path) -> None:
    result = check_mapping(accepted)
    assert result.plan is not None, [f.format() for f in result.findings]


@pytest.mark.parametrize("container", CONTAINERS)
@pytest.mark.parametrize("shape", ACCEPTED, ids=lambda s: s.name)
def test_generated_package_translates_each_shape(
    generated: ModuleType, shape: Shape, container: str
) -> None:
    k = key(shape, container)
    for value, expected in shape.samples:
        got = generated.to_external({k: wrap_value(container, value), "other": 1})
        assert got == {k: wrap_value(container, expected)}
    if container == "nullable":
        assert generated.to_external({k: None}) == {k: None}
    for value, pointer in shape.bad:
        with pytest.raises(ValueError) as err:
            generated.to_external({k: wrap_value(container, value)})
        problems = [p.pointer for p in err.value.problems]  # type: ignore[attr-defined]
        assert problems == [f"/{k}{below_first(container)}{pointer}"]


def below_first(container: str) -> str:
    """The first bad copy fails first: item 0, or the map key that comes first."""
    return {"items": "/0", "values": "/k"}.get(container, "")


def test_translate_and_generate_agree(accepted: Path, generated: ModuleType) -> None:
    plan = check_mapping(accepted).plan
    assert plan is not None
    with translator(plan) as mod:
        for shape in ACCEPTED:
            for c in CONTAINERS:
                record = {key(shape, c): wrap_value(c, v) for v, _ in shape.samples[:1]}
                assert mod.to_external(record) == generated.to_external(record)


@pytest.mark.parametrize("shape", REFUSED, ids=lambda s: s.name)
def test_refused_shapes_get_a_positioned_finding_naming_the_branches(
    tmp_path: Path, shape: Shape
) -> None:
    path = write(tmp_path, "refused", [shape])
    result = check_mapping(path)
    assert result.plan is None
    lines = path.read_text().splitlines()
    for c in CONTAINERS:
        line = next(i for i, text in enumerate(lines, 1) if text.startswith(f"  {key(shape, c)}:"))
        found = [f for f in result.findings if f.line == line]
        assert [f.code for f in found] == [shape.code], [f.format() for f in result.findings]
        assert found[0].col == 3
        for branch in shape.refused:
            assert branch in found[0].message, found[0].message


def test_a_discriminated_union_of_58_objects(tmp_path: Path) -> None:
    """The size of Stripe's payment-method union: every branch reached by its tag."""
    defs = {
        f"M{i}": {
            "type": "object",
            "required": ["type", "id"],
            "properties": {
                "type": {"type": "string"},
                "id": {"type": "string"},
                f"detail_{i}": {"type": "integer"},
            },
        }
        for i in range(58)
    }
    union = {
        "oneOf": [ref(f"M{i}") for i in range(58)],
        "discriminator": {
            "propertyName": "type",
            "mapping": {f"method_{i}": f"#/$defs/M{i}" for i in range(58)},
        },
    }
    schema = {"$defs": defs, "type": "object", "required": ["pm"], "properties": {"pm": union}}
    (tmp_path / "pm.json").write_text(json.dumps(schema))
    path = tmp_path / "pm.shim.yaml"
    path.write_text(
        "shim: pm\nversion: 1\nowner: tests\ndescription: payment methods\n"
        "internal: {schema: pm.json}\nexternal: {schema: pm.json}\nfields:\n  pm: pass\n"
    )
    result = check_mapping(path)
    assert result.plan is not None, [f.format() for f in result.findings]
    with translator(result.plan) as mod:
        for i in (0, 31, 57):
            record = {"type": f"method_{i}", "id": "x", f"detail_{i}": i, "detail_99": 1}
            assert mod.to_external({"pm": record}) == {
                "pm": {k: v for k, v in record.items() if k != "detail_99"}
            }
        with pytest.raises(ValueError) as err:
            mod.to_external({"pm": {"type": "M3", "id": "x"}})  # mapped values only (M3 has one)
        assert [p.pointer for p in err.value.problems] == ["/pm/type"]  # type: ignore[attr-defined]


@pytest.mark.parametrize("treat", ["pass", "null", "redact", "drop"])
def test_whatever_check_accepts_translates(tmp_path: Path, treat: str) -> None:
    """Every shape in every container under one treatment: the fields check
    refuses are reported where they are written, the rest generate and translate."""
    path = write(tmp_path, "every", SHAPES)
    path.write_text(path.read_text().replace(": pass\n", f': {{treat: "{treat}"}}\n'))
    first = check_mapping(path)
    lines = path.read_text().splitlines()
    refused = {lines[f.line - 1].strip().split(":")[0] for f in first.findings}
    assert all(lines[f.line - 1].startswith("  ") and f.col >= 3 for f in first.findings)
    if treat == "pass":
        assert refused == {key(s, c) for s in REFUSED for c in CONTAINERS}
    path.write_text(
        "\n".join(
            f"  {line.split(':')[0].strip()}: drop"
            if line.strip().split(":")[0] in refused
            else line
            for line in lines
        )
        + "\n"
    )
    result = check_mapping(path)
    assert result.plan is not None, [f.format() for f in result.findings]
    with translator(result.plan) as mod:
        for shape in ACCEPTED:
            for c in CONTAINERS:
                k = key(shape, c)
                value = wrap_value(c, shape.samples[0][0])
                out = mod.to_external({k: value})
                if k in refused or treat == "drop":
                    assert out == {}
                elif treat == "pass":
                    assert out == {k: wrap_value(c, shape.samples[0][1])}
                elif treat == "null":
                    assert out == {k: None}
                else:
                    assert out == {k: "[redacted]"}


def test_canary_puts_an_undeclared_field_in_each_object_branch(
    accepted: Path, generated: ModuleType
) -> None:
    """The generated leak test sends a branch record with an undeclared field."""
    from shimgen.render.canary import UNKNOWN_FIELD, canary_record

    plan = check_mapping(accepted).plan
    assert plan is not None
    record = canary_record(plan)
    for name in ("tagged", "discriminator", "structural", "string_or_object", "array_or_object"):
        assert UNKNOWN_FIELD in record[f"{name}_field"], name
        assert all(UNKNOWN_FIELD in item for item in record[f"{name}_items"]), name
    out = json.dumps(generated.to_external(record))
    assert UNKNOWN_FIELD not in out and '"last4"' in out
