"""The OpenAPI document of a generated shim, and the schema bundler behind it.

The service validates requests with validators compiled from this document,
so it is checked the way the service uses it (jsonschema-rs on
``#/components/schemas/<Name>``) against the committed sample records and
reviewed outputs, by schemathesis (which generates contract tests from it),
and on the real public schemas in ../shared/real-schemas.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import jsonschema_rs
import pytest
import schemathesis

from shimgen.check.plan import Route, RouteParam, ShimPlan
from shimgen.render.bundle import bundle_schemas, sanitize
from shimgen.render.openapi import PROBLEM_TYPE, openapi_document
from shimgen.runtime.service import access_openapi
from tests.expected import EXAMPLES, ROOT, fill_tokens, plan_of, translator
from tests.test_real_schemas import FHIR, GITHUB, K8S, STRIPE, real_dir

__all__ = ["real_dir"]  # the fixture, re-used

NAME = re.compile(r"^[A-Za-z0-9._-]+$")
FIXED = {"InternalRecord", "ExternalRecord", "InboundPayload", "Problem"}
ACCESS_SCHEMAS = access_openapi.SCHEMAS
_docs: dict[str, dict[str, Any]] = {}


def doc_of(name: str) -> dict[str, Any]:
    if name not in _docs:
        _docs[name] = openapi_document(plan_of(name))
    return _docs[name]


def validator(doc: dict[str, Any], name: str) -> Any:
    """Compiled the way runtime/service/validate.py compiles it."""
    return jsonschema_rs.validator_for(
        {"$ref": f"#/components/schemas/{name}", "components": doc["components"]}
    )


def errors(v: Any, instance: Any) -> list[str]:
    return [f"{list(e.instance_path)}: {e.message[:120]}" for e in v.iter_errors(instance)]


def ndjson(path: Path) -> list[Any]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]


def schema_keys(schema: Any) -> Iterator[str]:
    """Every keyword used at schema level (property names are not keywords)."""
    if isinstance(schema, list):
        for item in schema:
            yield from schema_keys(item)
    elif isinstance(schema, dict):
        for key, value in schema.items():
            yield key
            if key in ("properties", "patternProperties", "dependentSchemas"):
                for sub in value.values():
                    yield from schema_keys(sub)
            elif key not in ("enum", "const", "examples", "example", "default"):
                yield from schema_keys(value)


def refs(value: Any) -> Iterator[str]:
    if isinstance(value, dict):
        for key, sub in value.items():
            if key == "$ref" and isinstance(sub, str):
                yield sub
            else:
                yield from refs(sub)
    elif isinstance(value, list):
        for sub in value:
            yield from refs(sub)


def operations(doc: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    for path, item in doc["paths"].items():
        for method, op in item.items():
            yield path, method, op


# ------------------------------------------------------------- the examples


@pytest.mark.parametrize("name", EXAMPLES)
def test_document_shape(name: str) -> None:
    doc = doc_of(name)
    plan = plan_of(name)
    assert doc["openapi"] == "3.1.0"
    schemas = doc["components"]["schemas"]
    assert set(schemas) >= FIXED
    assert all(NAME.match(n) for n in schemas)
    grants = ACCESS_SCHEMAS if plan.elevated else frozenset()  # the grant endpoints' own
    assert set(schemas) >= grants
    assert all(n in FIXED | grants or n.startswith(("internal.", "external.")) for n in schemas)
    assert list(schemas) == sorted(schemas)
    assert {"/v1/outbound", "/v1/inbound", "/healthz", "/readyz", "/metrics"} <= set(doc["paths"])
    for r in plan.routes:
        assert r.method.lower() in doc["paths"][r.path]
    for ref in refs(doc):
        assert ref.startswith("#/components/schemas/"), ref
        assert ref.split("/")[-1] in schemas, ref


@pytest.mark.parametrize("name", EXAMPLES)
def test_no_vendor_extensions_are_served(name: str) -> None:
    """x-classification and friends are review metadata: never in the served document."""
    doc = doc_of(name)
    assert "x-classification" not in json.dumps(doc)
    assert not [k for k in schema_keys(doc["components"]["schemas"]) if k.startswith("x-")]


@pytest.mark.parametrize("name", EXAMPLES)
def test_components_are_valid_2020_12(name: str) -> None:
    for comp, schema in doc_of(name)["components"]["schemas"].items():
        assert jsonschema_rs.meta.is_valid(schema), comp


@pytest.mark.parametrize("name", EXAMPLES)
def test_internal_samples_validate(name: str) -> None:
    v = validator(doc_of(name), "InternalRecord")
    for record in ndjson(ROOT / "mappings" / "samples" / f"{name}.internal.ndjson"):
        assert errors(v, record) == []
    assert not v.is_valid({"zz_not_in_schema": 1})


@pytest.mark.parametrize("name", EXAMPLES)
def test_reviewed_outputs_validate_as_external_records(name: str) -> None:
    """Every view's output of the samples (mappings/expected) fits ExternalRecord."""
    v = validator(doc_of(name), "ExternalRecord")
    files = sorted((ROOT / "mappings" / "expected").glob(f"{name}.*.outbound.ndjson"))
    assert files
    for file in files:
        for record in ndjson(file):
            assert errors(v, record) == [], file.name


@pytest.mark.parametrize("name", EXAMPLES)
def test_external_samples_validate_as_inbound_payloads(name: str) -> None:
    """The external samples are inbound payloads; their "TOKEN" placeholders are
    replaced by real tokens of the field first, so the check sees what a caller sends."""
    plan = plan_of(name)
    v = validator(doc_of(name), "InboundPayload")
    samples = ndjson(ROOT / "mappings" / "samples" / f"{name}.external.ndjson")
    with translator(plan) as mod:
        for line, sample in enumerate(samples, 1):
            payload = fill_tokens(plan, mod, sample, line)
            assert "TOKEN" not in json.dumps(payload)
            assert errors(v, payload) == []
            assert errors(v, sample) == []  # a placeholder is still a string
    assert not v.is_valid({"zz_not_allowed": "x"}), "mass assignment is refused"


def test_inbound_payload_has_only_inbound_fields() -> None:
    payload = doc_of("customer")["components"]["schemas"]["InboundPayload"]
    assert payload["additionalProperties"] is False
    assert "required" not in payload
    assert set(payload["properties"]) == {"customerId", "status"}
    assert payload["properties"]["status"]["enum"] == ["active", "suspended", "closed"]


def test_inbound_payload_nests_external_paths() -> None:
    orders = doc_of("orders")["components"]["schemas"]["InboundPayload"]
    assert set(orders["properties"]) == {"customerRef", "status"}
    plan = plan_of("orders")
    items = next(r for r in plan.rules if r.key == "lines[].sku")
    rules = tuple(replace(r, inbound=True) if r is items else r for r in plan.rules)
    plan = replace(plan, rules=rules)
    payload = openapi_document(plan)["components"]["schemas"]["InboundPayload"]
    sku = payload["properties"]["items"]
    assert sku["type"] == "array" and sku["items"]["additionalProperties"] is False
    assert sku["items"]["properties"]["sku"]["type"] == "string"


@pytest.mark.parametrize("name", EXAMPLES)
def test_schemathesis_loads_every_operation(name: str) -> None:
    schema = schemathesis.openapi.from_dict(doc_of(name))
    ops = [result.ok() for result in schema.get_all_operations()]
    assert len(ops) == sum(1 for _ in operations(doc_of(name)))


@pytest.mark.parametrize("name", EXAMPLES)
def test_operations_document_groups_security_and_problems(name: str) -> None:
    doc = doc_of(name)
    plan = plan_of(name)
    expected_header = f"{plan.name}; version={plan.version}; sha256={plan.mapping_sha256}"
    for path, _method, op in operations(doc):
        protected = bool(op["security"])
        assert protected == (path not in ("/healthz", "/readyz", "/metrics"))
        for status, response in op["responses"].items():
            header = response["headers"]["Shim-Mapping"]
            assert header["schema"]["const"] == expected_header
            if int(status) >= 400:
                assert response["content"] == {
                    PROBLEM_TYPE: {"schema": {"$ref": "#/components/schemas/Problem"}}
                }
        if not protected:
            continue
        assert op["security"] == [{"apiKey": []}, {"bearer": []}]
        statuses = set(op["responses"])
        assert {"401", "429", "500", "503"} <= statuses
        assert "Retry-After" in op["responses"]["429"]["headers"]
        if path.startswith("/v1/access/"):  # grant endpoints act in no group (docs/access.md)
            assert plan.elevated
            assert all(p["name"] != "Shim-Group" for p in op.get("parameters", ()))
            continue
        if path == "/openapi.json":  # credentials, no group: the caller's side picks the view
            assert "parameters" not in op
            continue
        group = next(p for p in op["parameters"] if p["name"] == "Shim-Group")
        assert group["in"] == "header" and group["required"] is True
        assert set(group["schema"]["enum"]) <= set(plan.groups)
        statuses = set(op["responses"])
        assert {"200", "400", "401", "403", "413", "415", "422", "429", "500", "503"} <= statuses
        assert "Retry-After" in op["responses"]["429"]["headers"]
    schemes = doc["components"]["securitySchemes"]
    assert schemes["apiKey"] == {"type": "apiKey", "in": "header", "name": "X-API-Key"}
    assert schemes["bearer"]["scheme"] == "bearer"


def _routed(plan: ShimPlan) -> ShimPlan:
    """The customer plan with routes added by hand (independent of the checker's routes)."""
    rule = next(r for r in plan.rules if r.key == "id")
    param = RouteParam("customerId", rule.external, rule.internal, "id")
    routes = (
        Route("GET", "/accounts/{customerId}", "GET", "/int/{id}", ("billing",), (param,), ("a",)),
        Route("PUT", "/accounts/{customerId}", "PUT", "/int/{id}", ("support",), (param,), ()),
        Route("GET", "/accounts", "GET", "/int", ("billing", "support"), (), ("q", "page")),
    )
    return replace(plan, routes=routes)


def test_proxy_routes_are_operations() -> None:
    doc = openapi_document(_routed(plan_of("customer")))
    item = doc["paths"]["/accounts/{customerId}"]
    get, put = item["get"], item["put"]
    assert get["operationId"] == "get_accounts_customerId"
    params = {p["name"]: p for p in get["parameters"]}
    assert params["customerId"] == {**params["customerId"], "in": "path", "required": True}
    assert params["customerId"]["schema"] == {"type": "string"}
    assert params["a"]["in"] == "query" and params["a"]["required"] is False
    assert params["Shim-Group"]["schema"]["enum"] == ["billing"]
    assert "requestBody" not in get
    body = put["requestBody"]["content"]["application/json"]["schema"]
    assert body == {"$ref": "#/components/schemas/InboundPayload"}
    for op in (get, put, doc["paths"]["/accounts"]["get"]):
        assert {"404", "502", "504"} <= set(op["responses"])
        ok = op["responses"]["200"]["content"]["application/json"]["schema"]
        assert {"$ref": "#/components/schemas/ExternalRecord"} in ok["oneOf"]
    assert [p["name"] for p in doc["paths"]["/accounts"]["get"]["parameters"]] == [
        "q",
        "page",
        "Shim-Group",
    ]
    schemathesis.openapi.from_dict(doc)


# The document's bytes across hash seeds: test_examples.test_generation_is_byte_identical_across_hash_seeds
# (openapi.json of each example, proxy routes included, in two interpreters).


# ------------------------------------------------------------- the bundler


def _write(path: Path, data: Any) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data), encoding="utf-8")
    return path


def test_refs_into_other_files_and_tables_are_bundled(tmp_path: Path) -> None:
    _write(
        tmp_path / "common" / "types.json",
        {"definitions": {"Address": {"type": "object", "properties": {"c": {"type": "string"}}}}},
    )
    _write(tmp_path / "common" / "money.json", {"title": "Money", "type": "integer"})
    main = _write(
        tmp_path / "main.json",
        {
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            "$id": "https://example.com/main.json",
            "$ref": "#/$defs/Root",
            "$defs": {
                "Root": {
                    "type": "object",
                    "properties": {
                        "home": {"$ref": "#/$defs/Address"},
                        "work": {"$ref": "common/types.json#/definitions/Address"},
                        "cost": {"$ref": "common/money.json"},
                        "self": {"$ref": "#/$defs/Root"},
                        "odd": {"$ref": "#/$defs/a b~1c"},
                        "x-field": {"type": "string", "x-classification": "pii"},
                    },
                },
                "Address": {"type": "string"},
                "a b/c": {"type": "boolean"},
                "Unused": {"type": "string"},
            },
        },
    )
    bundle = bundle_schemas([("internal", main, "Root")])
    assert bundle.roots == {"internal": "internal.Root"}
    assert set(bundle.schemas) == {
        "internal.Root",
        "internal.Address",
        "internal.Address-2",
        "internal.Money",
        "internal.a_b_c",
    }
    props = bundle.schemas["internal.Root"]["properties"]
    assert props["home"] == {"$ref": "#/components/schemas/internal.Address"}
    assert props["work"] == {"$ref": "#/components/schemas/internal.Address-2"}
    assert props["self"] == {"$ref": "#/components/schemas/internal.Root"}
    assert props["x-field"] == {"type": "string"}, "a property may be called x-...; keywords not"
    assert bundle.schemas["internal.Address-2"]["properties"] == {"c": {"type": "string"}}


def test_older_spellings_become_2020_12(tmp_path: Path) -> None:
    doc = {
        "openapi": "3.0.3",
        "info": {"title": "t", "version": "1"},
        "paths": {},
        "components": {
            "schemas": {
                "M": {
                    "type": "object",
                    "properties": {
                        "s": {"type": "string", "nullable": True},
                        "e": {"type": "string", "enum": ["a", "b"], "nullable": True},
                        "r": {"allOf": [{"$ref": "#/components/schemas/N"}], "nullable": True},
                        "w": {"anyOf": [{"$ref": "#/components/schemas/N"}], "nullable": True},
                        "o": {"oneOf": [{"type": "string"}, {"nullable": True}]},
                        "n": {"type": "number", "minimum": 0, "exclusiveMinimum": True},
                        "m": {"type": "number", "maximum": 9, "exclusiveMaximum": False},
                        "t": {
                            "type": "array",
                            "items": [{"type": "string"}],
                            "additionalItems": False,
                        },
                        "d": {"dependencies": {"a": ["b"], "c": {"required": ["d"]}}},
                        "j": {"type": "string", "discriminator": {"propertyName": "x"}},
                    },
                },
                "N": {"type": "object", "x-stub": True},
            }
        },
    }
    path = _write(tmp_path / "api.json", doc)
    out = bundle_schemas([("external", path, "M")]).schemas
    p = out["external.M"]["properties"]
    ref = {"$ref": "#/components/schemas/external.N"}
    assert p["s"] == {"type": ["string", "null"]}
    assert p["e"] == {"type": ["string", "null"], "enum": ["a", "b", None]}
    assert p["r"] == {"anyOf": [ref, {"type": "null"}]}
    assert p["w"] == {"anyOf": [ref, {"type": "null"}]}
    assert p["o"] == {"oneOf": [{"type": "string"}, {"type": "null"}]}
    assert p["n"] == {"type": "number", "exclusiveMinimum": 0}
    assert p["m"] == {"type": "number", "maximum": 9}
    assert p["t"] == {"type": "array", "prefixItems": [{"type": "string"}], "items": False}
    assert p["d"] == {
        "dependentRequired": {"a": ["b"]},
        "dependentSchemas": {"c": {"required": ["d"]}},
    }
    assert p["j"] == {"type": "string"}
    assert out["external.N"] == {"type": "object"}
    v = jsonschema_rs.validator_for(
        {"$ref": "#/components/schemas/external.M", "components": {"schemas": out}}
    )
    assert v.is_valid({"s": None, "r": None, "o": None, "n": 1, "t": ["x"]})
    assert not v.is_valid({"n": 0}) and not v.is_valid({"t": ["x", "y"]})


def test_sanitize() -> None:
    assert sanitize("private-user") == "private-user"
    assert sanitize("a/b c") == "a_b_c"
    assert sanitize("Ünïcode") == "n_code"
    assert sanitize("///") == "schema"


# ------------------------------------------------------------- real schemas

REAL_CASES = [
    (FHIR, "Patient", {"resourceType": "Patient", "gender": "female"}, {"gender": 5}),
    (STRIPE, "customer", None, {"email": 5}),
    (GITHUB, "private-user", None, {"login": 5}),
    (GITHUB, "public-user", None, {"login": 5}),
    (K8S, "", {"apiVersion": "v1", "kind": "Secret", "data": {"a": "Zm9v"}}, {"data": 5}),
]


@pytest.mark.parametrize(("file", "model", "good", "bad"), REAL_CASES)
def test_real_schemas_bundle_and_compile(
    real_dir: Path, file: str, model: str, good: Any, bad: Any
) -> None:
    bundle = bundle_schemas(
        [("internal", real_dir / file, model), ("external", real_dir / file, model)]
    )
    schemas = bundle.schemas
    assert all(NAME.match(n) for n in schemas)
    assert not [k for k in schema_keys(schemas) if k.startswith("x-")]
    for name, schema in schemas.items():
        assert jsonschema_rs.meta.is_valid(schema), name
    for ref in refs(schemas):
        assert ref.split("/")[-1] in schemas, ref
    v = jsonschema_rs.validator_for(
        {
            "$ref": "#/components/schemas/" + bundle.roots["internal"],
            "components": {"schemas": schemas},
        }
    )
    if good is not None:
        assert errors(v, good) == []
    assert not v.is_valid(bad)
