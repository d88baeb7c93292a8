"""Pydantic model files: one module for any component names, only the model's closure.

datamodel-code-generator writes a package of modules when component names
contain dots (Stripe ``issuing.authorization``, Kubernetes
``io.k8s.api.core.v1.Pod``), which ``shimgen generate`` met with an
AssertionError. It is now given the model's ``$ref`` closure under safe names.
"""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path
from typing import Any

import pytest

from shimgen.render.models import pydantic_models
from shimgen.schema.closure import model_closure, safe_name
from tests.expected import EXAMPLES, ROOT

OPENAPI: dict[str, Any] = {
    "openapi": "3.0.3",
    "info": {"title": "t", "version": "1"},
    "paths": {},
    "components": {
        "schemas": {
            "issuing.authorization": {
                "type": "object",
                "required": ["id"],
                "properties": {
                    "id": {"type": "string"},
                    "card": {"$ref": "#/components/schemas/issuing.card"},
                    "note": {"type": "string", "nullable": True},
                    "source": {
                        "oneOf": [
                            {"$ref": "#/components/schemas/issuing.card"},
                            {"$ref": "#/components/schemas/issuing_card"},
                        ],
                        "discriminator": {
                            "propertyName": "object",
                            "mapping": {
                                "a": "#/components/schemas/issuing.card",
                                "b": "#/components/schemas/issuing_card",
                            },
                        },
                    },
                    "parent": {"$ref": "#/components/schemas/issuing.authorization"},
                },
            },
            "issuing.card": {
                "type": "object",
                "properties": {"object": {"type": "string"}, "last4": {"type": "string"}},
            },
            "issuing_card": {
                "type": "object",
                "properties": {"object": {"type": "string"}, "brand": {"type": "string"}},
            },
            "unused.thing": {"type": "object", "properties": {"z": {"type": "integer"}}},
        }
    },
}

DEFINITIONS: dict[str, Any] = {
    "definitions": {
        "io.k8s.api.core.v1.Pod": {
            "type": "object",
            "properties": {
                "metadata": {
                    "$ref": "#/definitions/io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"
                },
                "spec": {"$ref": "other.schema.json#/$defs/Spec"},
            },
        },
        "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta": {
            "type": "object",
            "properties": {"name": {"type": "string"}},
        },
        "io.k8s.api.apps.v1.Deployment": {
            "type": "object",
            "properties": {"r": {"type": "integer"}},
        },
    }
}
OTHER: dict[str, Any] = {
    "$defs": {"Spec": {"type": "object", "properties": {"node.name": {"type": "string"}}}}
}


def namespace(source: str, where: Path) -> dict[str, Any]:
    """Import the generated module (pydantic resolves forward refs through sys.modules)."""
    name = f"_models_{where.parent.name}"
    path = where.parent / f"{name}.py"
    path.write_text(source)
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return vars(module)


@pytest.fixture
def openapi(tmp_path: Path) -> Path:
    path = tmp_path / "dotted.openapi.json"
    path.write_text(json.dumps(OPENAPI))
    return path


@pytest.fixture
def definitions(tmp_path: Path) -> Path:
    (tmp_path / "other.schema.json").write_text(json.dumps(OTHER))
    path = tmp_path / "k8s.definitions.json"
    path.write_text(json.dumps(DEFINITIONS))
    return path


def test_safe_names() -> None:
    assert safe_name("io.k8s.api.core.v1.Pod") == "io_k8s_api_core_v1_Pod"
    assert safe_name("User--Full") == "User_Full"
    assert safe_name("1st") == "_1st"
    assert safe_name("...") == "Schema"


def test_dotted_openapi_components_give_one_module(openapi: Path) -> None:
    source = pydantic_models(openapi, "issuing.authorization", "dotted.openapi.json")
    scope = namespace(source, openapi)
    model = scope["IssuingAuthorization"]
    assert scope["ROOT_MODEL"] is model  # the OpenAPI component the mapping names
    record = {
        "id": "a1",
        "card": {"object": "a", "last4": "4242"},
        "note": None,
        "parent": {"id": "a0"},
        "source": {"object": "b", "brand": "visa"},
    }
    assert model.model_validate(record).model_dump(exclude_none=True)["card"]["last4"] == "4242"
    assert "Unused" not in source and "class UnusedThing" not in source  # closure only


def test_colliding_safe_names_stay_apart(openapi: Path) -> None:
    document, is_openapi = model_closure(openapi, "issuing.authorization")
    assert is_openapi
    assert sorted(document["components"]["schemas"]) == [
        "issuing_authorization",
        "issuing_card",
        "issuing_card_2",
    ]
    mapping = document["components"]["schemas"]["issuing_authorization"]["properties"]["source"][
        "discriminator"
    ]["mapping"]
    assert mapping == {
        "a": "#/components/schemas/issuing_card",
        "b": "#/components/schemas/issuing_card_2",
    }


def test_dotted_definitions_and_refs_into_other_files(definitions: Path) -> None:
    source = pydantic_models(definitions, "io.k8s.api.core.v1.Pod", "k8s.definitions.json")
    scope = namespace(source, definitions)
    pod = scope["IoK8sApiCoreV1Pod"]
    assert scope["ROOT_MODEL"] is pod  # the JSON Schema definition the mapping names
    parsed = pod.model_validate({"metadata": {"name": "p"}, "spec": {"node.name": "n1"}})
    assert parsed.metadata.name == "p"
    assert "Deployment" not in source  # not referenced by Pod


def test_json_schema_model_becomes_the_root(definitions: Path) -> None:
    document, is_openapi = model_closure(definitions, "io.k8s.api.core.v1.Pod")
    assert not is_openapi
    assert document["title"] == "io_k8s_api_core_v1_Pod"
    assert document["properties"]["spec"] == {"$ref": "#/$defs/Spec"}
    assert sorted(document["$defs"]) == ["Spec", "io_k8s_apimachinery_pkg_apis_meta_v1_ObjectMeta"]


# -- the examples: typed records for the code that calls the translator ----------------


def _root_model(name: str, side: str) -> Any:
    """``ROOT_MODEL`` of a golden package's models module, imported from its file."""
    path = ROOT / "generated_examples" / f"{name}_shim" / f"{name}_shim" / f"{side}_models.py"
    module_name = f"_golden_{name}_{side}_models"
    spec = importlib.util.spec_from_file_location(module_name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module  # pydantic resolves forward refs through sys.modules
    spec.loader.exec_module(module)
    return module.ROOT_MODEL


def _ndjson(path: Path) -> list[Any]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]


def _typed(model: Any, record: dict[str, Any]) -> dict[str, Any]:
    dumped: dict[str, Any] = model.model_validate(record).model_dump(
        mode="json", by_alias=True, exclude_unset=True
    )
    return dumped


@pytest.mark.parametrize("name", EXAMPLES)
def test_reviewed_records_are_typed_by_the_models(name: str) -> None:
    """What the package README promises: ``external_models.ROOT_MODEL`` types every view's
    output (the reviewed outputs in mappings/expected), ``internal_models.ROOT_MODEL`` the
    internal records, and nothing is lost on the way (the dump is the record)."""
    internal, external = _root_model(name, "internal"), _root_model(name, "external")
    samples = _ndjson(ROOT / "mappings" / "samples" / f"{name}.internal.ndjson")
    assert samples
    for record in samples:
        assert _typed(internal, record) == record
    outputs = sorted((ROOT / "mappings" / "expected").glob(f"{name}.*.outbound.ndjson"))
    assert outputs
    for file in outputs:
        for record in _ndjson(file):
            assert _typed(external, record) == record, file.name
    with pytest.raises(ValueError):  # pydantic's ValidationError: the model does validate
        external.model_validate({"zz_not_in_schema": 1, **_ndjson(outputs[0])[0]})


def test_untitled_root_is_model(tmp_path: Path) -> None:
    """The whole file as the model, with no title: datamodel-code-generator's ``Model``."""
    path = tmp_path / "plain.schema.json"
    path.write_text(json.dumps({"type": "object", "properties": {"a": {"type": "string"}}}))
    scope = namespace(pydantic_models(path, "", "plain.schema.json"), path)
    assert scope["ROOT_MODEL"] is scope["Model"]
    assert scope["ROOT_MODEL"].model_validate({"a": "x"}).a == "x"


@pytest.mark.parametrize(
    ("title", "openapi", "cls"),
    [("None", True, "None1"), ("True", True, "True1"), ("a.b", False, "AB"), ("x y", True, "XY")],
)
def test_root_alias_follows_the_generators_renaming(
    tmp_path: Path, title: str, openapi: bool, cls: str
) -> None:
    """Where datamodel-code-generator renames the root (reserved word, dotted title), the
    alias still names it (found by fuzzing: a component called ``None``)."""
    obj = {"type": "object", "properties": {"a": {"type": "string"}}}
    if openapi:
        schemas = {title: obj, "Other": {"type": "string"}}
        doc: dict[str, Any] = {
            "openapi": "3.0.0",
            "info": {"title": "t", "version": "1"},
            "paths": {},
            "components": {"schemas": schemas},
        }
    else:
        doc = {"title": title, **obj}
    path = tmp_path / "s.json"
    path.write_text(json.dumps(doc))
    scope = namespace(pydantic_models(path, title if openapi else "", "s.json"), path)
    assert scope["ROOT_MODEL"] is scope[cls]
