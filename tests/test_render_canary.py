"""The canary record holds a value at exactly the fields the mapping lists, and stays small.

Before it followed the recursion-hub rule, the canary of FHIR ``Patient`` re-expanded
``Extension`` under every field: 57 MB, and minutes of formatting in `generate`.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from shimgen.render.canary import schema_record
from shimgen.schema.loader import load_schema
from shimgen.schema.model import SchemaNode, format_path, iter_leaves
from tests.test_real_schemas import FHIR, loaded, real_dir

__all__ = ["real_dir"]  # the fixture, re-used

ROOT = Path(__file__).resolve().parents[1]

# Extension recurses into itself and, through Thing, into every type that carries it:
# a stack-only walk opens Extension again under every `ext`, the hub rule once.
HUB_SCHEMA: dict[str, Any] = {
    "$defs": {
        "Extension": {
            "type": "object",
            "properties": {
                "url": {"type": "string"},
                "ext": {"type": "array", "items": {"$ref": "#/$defs/Extension"}},
                "valueThing": {"$ref": "#/$defs/Thing"},
                "valueCode": {"type": "string"},
            },
        },
        "Thing": {
            "type": "object",
            "properties": {
                "x": {"type": "string", "format": "date"},
                "ext": {"type": "array", "items": {"$ref": "#/$defs/Extension"}},
                "part": {"$ref": "#/$defs/Part"},
            },
        },
        "Part": {
            "type": "object",
            "properties": {
                "n": {"type": "integer"},
                "ext": {"type": "array", "items": {"$ref": "#/$defs/Extension"}},
            },
        },
    },
    "type": "object",
    "properties": {
        "ext": {"type": "array", "items": {"$ref": "#/$defs/Extension"}},
        "thing": {"$ref": "#/$defs/Thing"},
        "things": {"type": "array", "items": {"$ref": "#/$defs/Thing"}},
        "id": {"type": "string"},
    },
}


def valued_paths(doc: Any, prefix: str = "") -> set[str]:
    """The paths at which a record holds a value (empty arrays hold none)."""
    if isinstance(doc, dict) and doc:
        return {
            p for k, v in doc.items() for p in valued_paths(v, f"{prefix}.{k}" if prefix else k)
        }
    if isinstance(doc, list):
        if doc and all(isinstance(item, dict) for item in doc):
            return {p for item in doc for p in valued_paths(item, prefix + "[]")}
        return {prefix} if doc else set()
    return {prefix}


def listed(root: SchemaNode) -> set[str]:
    return {format_path(leaf.path) for leaf in iter_leaves(root) if not leaf.recursive}


def test_canary_follows_the_recursion_hub_rule(tmp_path: Path) -> None:
    schema = tmp_path / "hub.schema.json"
    schema.write_text(json.dumps(HUB_SCHEMA), encoding="utf-8")
    root = load_schema(schema, None).root
    record = schema_record(root)
    assert valued_paths(record) == listed(root)
    # Extension is opened once (under the root's `ext[]`), not under `thing.ext` or `things[].ext`
    assert "ext[].valueThing.part.n" in valued_paths(record)
    assert not any(p.startswith(("thing.ext[]", "things[].ext[]")) for p in valued_paths(record))


@pytest.mark.parametrize(
    ("file", "model"),
    [
        ("customer.internal.json", None),
        ("hr.employee.json", None),
        ("orders.openapi.yaml", "OrderRecord"),
    ],
)
def test_canary_covers_every_listed_field_of_the_examples(file: str, model: str | None) -> None:
    root = load_schema(ROOT / "mappings" / "schemas" / file, model).root
    assert valued_paths(schema_record(root)) == listed(root) - _untyped(root)


def _untyped(root: SchemaNode) -> set[str]:
    """Fields a canary cannot fill with a typed value (``any``, unions of objects): none here."""
    return {
        format_path(leaf.path)
        for leaf in iter_leaves(root)
        if not leaf.recursive and leaf.node.kind.value in ("any", "union")
    }


def test_fhir_patient_canary_is_small_and_matches_the_listing(real_dir: Path) -> None:
    root = loaded(real_dir, FHIR, "Patient").root
    record = schema_record(root)
    size = len(json.dumps(record))
    assert size < 500_000, f"{size} bytes"  # 57 MB before the hub rule; about 130 kB now
    # `text.div` is untyped (xhtml): no typed canary value fits it
    assert valued_paths(record) == listed(root) - {"text.div"}
