"""A partner reads the internal data model from ``/openapi.json``.

The attack (red-team, third pass): the document bundles both schemas, and it
was served without credentials. ``components.schemas["internal.Customer"]``
gave anyone the internal field names with their descriptions (``ssn`` "US social
security number", ``risk_score`` "Fraud model output"), the internal enum codes
and patterns, and each proxy route's summary named the internal API's path:
the model the external schema exists to hide.

The control (runtime/service/openapi_view.py): the document needs credentials
like every route with data; an internal caller gets it whole, an external one
only the operations it may call (proxy routes, probes, the document), the
component schemas those reach through ``$ref``, and no ``x-shim-internal``.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

from shimgen.runtime.service.app import build_app
from shimgen.runtime.service.settings import Settings
from tests.service_support import (
    GOLDEN,
    KEY_HELPDESK,
    KEY_PORTAL,
    KEYS_FILE,
    headers,
    make_spec,
    write_callers,
)

# the golden customer shim's document: both schemas, the proxy routes, every operation
DOC: dict[str, Any] = json.loads((GOLDEN / "customer_shim" / "openapi.json").read_text())


@pytest.fixture
def client(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[TestClient]:
    monkeypatch.setenv("SHIM_KEYS_FILE", str(KEYS_FILE))
    settings = Settings(
        callers_file=str(write_callers(tmp_path / "callers.yaml")),
        audit_url=f"jsonl:///{tmp_path / 'audit.jsonl'}",
        instance="test",
        upstream_url="http://upstream.test",
    )
    with TestClient(build_app(make_spec(openapi=DOC), settings)) as c:
        yield c


def _refs(node: Any) -> set[str]:
    if isinstance(node, dict):
        found = {node["$ref"]} if isinstance(node.get("$ref"), str) else set()
        return found.union(*(_refs(v) for v in node.values()))
    if isinstance(node, list):
        return set().union(*(_refs(v) for v in node))
    return set()


def test_the_document_needs_credentials(client: TestClient) -> None:
    answer = client.get("/openapi.json")
    assert answer.status_code == 401
    assert "internal" not in answer.text.lower()


def test_an_external_caller_sees_no_internal_schema_path_or_operation(
    client: TestClient,
) -> None:
    whole = DOC
    assert "internal.Customer" in whole["components"]["schemas"]  # what there is to hide
    answer = client.get("/openapi.json", headers=headers(KEY_PORTAL, group=None))
    assert answer.status_code == 200
    doc = answer.json()
    text = json.dumps(doc)
    for secret in ("internal.", "InternalRecord", "ssn", "risk_score", "Fraud model",
                   "/internal/", "x-shim-internal", "/v1/outbound", "/v1/inbound"):  # fmt: skip
        assert secret not in text, secret
    routes = {path for path in whole["paths"] if path.startswith("/customers")}
    assert routes and routes <= set(doc["paths"])
    assert {"/healthz", "/readyz", "/openapi.json"} <= set(doc["paths"])
    assert "ExternalRecord" in doc["components"]["schemas"]
    # every reference still resolves: the view is a document a client can use
    names = set(doc["components"]["schemas"])
    assert {r.rsplit("/", 1)[1] for r in _refs(doc)} <= names


def test_an_internal_caller_gets_the_whole_document(client: TestClient) -> None:
    doc = client.get("/openapi.json", headers=headers(KEY_HELPDESK, group=None)).json()
    assert doc == DOC
    route = doc["paths"]["/customers/{customerId}"]["get"]
    assert route["x-shim-internal"].startswith("GET /internal/")
