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

from shimgen.runtime.service.app import RouteSpec, build_app
from shimgen.runtime.service.settings import Settings
from tests.service_support import (
    GOLDEN,
    ID_PARAM,
    KEY_HELPDESK,
    KEY_PORTAL,
    KEYS_FILE,
    headers,
    make_spec,
    sha,
    write_callers,
)

# the golden customer shim's document: both schemas, the proxy routes, every operation
DOC: dict[str, Any] = json.loads((GOLDEN / "customer_shim" / "openapi.json").read_text())
# its routes as the golden app declares them: GET open to support and billing, PATCH to support
ROUTES = (
    RouteSpec("GET", "/customers/{customerId}", "GET", "/internal/customers/{id}",
              ID_PARAM, frozenset({"support", "billing"}), ("expand",), False),
    RouteSpec("PATCH", "/customers/{customerId}", "PATCH", "/internal/customers/{id}",
              ID_PARAM, frozenset({"support"}), (), True),
)  # fmt: skip
KEY_BILLING_PARTNER = "billing-partner-" + "b" * 40  # external, in billing only


@pytest.fixture
def client(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[TestClient]:
    monkeypatch.setenv("SHIM_KEYS_FILE", str(KEYS_FILE))
    callers = write_callers(tmp_path / "callers.yaml")
    callers.write_text(
        callers.read_text()
        + "  - name: billing-partner\n    side: external\n    groups: [billing]\n"
        + f"    api_keys: ['{sha(KEY_BILLING_PARTNER)}']\n"
    )
    settings = Settings(
        callers_file=str(callers),
        audit_url=f"jsonl:///{tmp_path / 'audit.jsonl'}",
        instance="test",
        upstream_url="http://upstream.test",
    )
    with TestClient(build_app(make_spec(openapi=DOC, routes=ROUTES), settings)) as c:
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


def test_an_external_caller_sees_only_the_operations_of_its_groups(client: TestClient) -> None:
    """A partner in billing alone: the PATCH open to support is not in its document."""
    doc = client.get("/openapi.json", headers=headers(KEY_BILLING_PARTNER, group=None)).json()
    assert set(doc["paths"]["/customers/{customerId}"]) == {"get"}
    both = client.get("/openapi.json", headers=headers(KEY_PORTAL, group=None)).json()
    assert set(both["paths"]["/customers/{customerId}"]) == {"get", "patch"}
    assert "InboundPayload" in both["components"]["schemas"]  # PATCH's body: only there
    assert "InboundPayload" not in doc["components"]["schemas"]


def test_the_grant_endpoints_are_in_an_external_view(tmp_path: Path) -> None:
    """Any caller may ask for a grant, so an external view of a shim with elevated groups has
    the grant endpoints and their schemas, and every reference in it resolves."""
    from shimgen.runtime.service.openapi_view import external_view

    hr = json.loads((GOLDEN.parent / "hr_shim" / "hr_shim" / "openapi.json").read_text())
    view = external_view(hr, set())
    assert "/v1/access/grants" in view["paths"]
    assert "GrantRequest" in view["components"]["schemas"]
    names = {(section, name) for section, entries in view["components"].items() for name in entries}
    for ref in _refs(view):
        section, name = ref.removeprefix("#/components/").split("/", 1)
        assert (section, name) in names, ref
