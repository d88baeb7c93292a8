"""Bundled schemas: definitions keyed and ``$id``-addressed by URL inside the same file.

Bundlers (and JSON Schema 2020-12 "compound documents") put each referenced
schema under its URL with an ``$id``; a ``$ref`` to that URL, absolute or
relative to the enclosing ``$id``, is a ref inside the file. It used to be
refused as a remote ref. A ``#/...`` ref inside such a resource is relative
to that resource, not to the file's root.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from shimgen.render.models import pydantic_models
from shimgen.schema.loader import SchemaError, load_schema
from shimgen.schema.model import Kind

COMPOUND: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "$id": "https://example.com/schemas/person.json",
    "type": "object",
    "properties": {
        "home": {"$ref": "https://example.com/schemas/address.json"},
        "work": {"$ref": "address.json"},
        "tags": {"$ref": "https://example.com/schemas/tags.json#/$defs/tag"},
    },
    "$defs": {
        "https://example.com/schemas/address.json": {
            "$id": "https://example.com/schemas/address.json",
            "type": "object",
            "properties": {"city": {"type": "string"}, "geo": {"$ref": "#/$defs/geo"}},
            "$defs": {"geo": {"type": "object", "properties": {"lat": {"type": "number"}}}},
        },
        "https://example.com/schemas/tags.json": {
            "$id": "https://example.com/schemas/tags.json",
            "$defs": {"tag": {"type": "array", "items": {"type": "string"}}},
        },
    },
}

DRAFT07: dict[str, Any] = {
    "$schema": "http://json-schema.org/draft-07/schema#",
    "definitions": {
        "http://example.org/card.json": {
            "$id": "http://example.org/card.json",
            "type": "object",
            "properties": {
                "last4": {"type": "string"},
                "owner": {"$ref": "#/definitions/owner"},
            },
            "definitions": {
                "owner": {"type": "object", "properties": {"name": {"type": "string"}}}
            },
        },
        "Wallet": {
            "type": "object",
            "properties": {
                "cards": {"type": "array", "items": {"$ref": "http://example.org/card.json"}}
            },
        },
    },
}


def write(tmp_path: Path, name: str, doc: dict[str, Any]) -> Path:
    path = tmp_path / name
    path.write_text(json.dumps(doc))
    return path


def test_compound_document_refs_resolve_in_the_file(tmp_path: Path) -> None:
    root = load_schema(write(tmp_path, "person.json", COMPOUND), None).root
    home, work = root.properties["home"], root.properties["work"]
    assert home is work, "absolute and relative refs to one $id are one node"
    assert home.kind is Kind.OBJECT and set(home.properties) == {"city", "geo"}
    geo = home.properties["geo"]  # `#/$defs/geo` inside the resource: the resource's $defs
    assert geo.kind is Kind.OBJECT and geo.properties["lat"].kind is Kind.NUMBER
    tags = root.properties["tags"]
    assert tags.kind is Kind.ARRAY and tags.items is not None and tags.items.kind is Kind.STRING


def test_draft07_definitions_keyed_by_url(tmp_path: Path) -> None:
    wallet = load_schema(write(tmp_path, "wallet.json", DRAFT07), "Wallet").root
    card = wallet.properties["cards"].items
    assert card is not None and set(card.properties) == {"last4", "owner"}
    assert card.properties["owner"].properties["name"].kind is Kind.STRING


def test_models_of_a_bundled_schema(tmp_path: Path) -> None:
    source = pydantic_models(write(tmp_path, "wallet.json", DRAFT07), "Wallet", "wallet.json")
    compile(source, "wallet_models.py", "exec")
    assert "class Wallet(" in source and "last4" in source and "name:" in source


def test_a_url_that_is_not_in_the_file_is_still_remote(tmp_path: Path) -> None:
    doc = json.loads(json.dumps(COMPOUND))
    doc["properties"]["other"] = {"$ref": "https://example.com/schemas/missing.json"}
    with pytest.raises(SchemaError, match="remote \\$ref not supported"):
        load_schema(write(tmp_path, "person.json", doc), None)
