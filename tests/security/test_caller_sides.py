"""Attack class: the translation endpoints used from the external side.

Callers have a side (``internal`` or ``external``, default external). The
translation endpoints carry internal values one way or the other - outbound
mints a token for whatever internal record it is given, inbound turns tokens back
into internal ids - so they serve internal callers only. External callers reach
the proxy routes, where every value a token turns into is held to the internal
schema before anything is forwarded. See docs/threat-model.md, "Callers have a side".
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from starlette.routing import Route
from starlette.testclient import TestClient

from shimgen.runtime.service.callers import Callers
from shimgen.runtime.service.settings import ConfigError, Settings
from tests.security.sides_support import audit_events, live_upstream, settings_for, shim_client
from tests.service_support import (
    KEY_PORTAL,
    KEYS_FILE,
    RECORD,
    headers,
    sha,
    token,
    write_callers,
)
from tests.test_service_proxy import FakeUpstream

INTERNAL_ID = RECORD["id"]
CHOSEN = ("../../admin", "7c0a5b2e-1111-4222-8333-944455556666", "x")


@pytest.fixture(autouse=True)
def _keys(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SHIM_KEYS_FILE", str(KEYS_FILE))
    monkeypatch.delenv("SHIM_KEYS", raising=False)


@pytest.fixture(scope="module")
def upstream() -> Iterator[tuple[FakeUpstream, str]]:
    with live_upstream() as live:
        yield live


@pytest.fixture
def settings(tmp_path: Path, upstream: tuple[FakeUpstream, str]) -> Settings:
    return settings_for(tmp_path, write_callers(tmp_path / "callers.yaml"), upstream[1])


@pytest.fixture
def client(settings: Settings, upstream: tuple[FakeUpstream, str]) -> Iterator[TestClient]:
    upstream[0].seen.clear()
    with shim_client(settings) as c:
        yield c


def portal(group: str = "billing") -> dict[str, str]:
    """Headers of ``portal``: a caller declared without ``side``, so external."""
    return headers(key=KEY_PORTAL, group=group)


def every_request(client: TestClient, value: str) -> Iterator[tuple[str, str, Any]]:
    """One request per route and method of the app, ``value`` in every place a caller controls:
    each path parameter, each declared query parameter, the body's id fields (or the id of a
    whole internal record for outbound)."""
    for route in client.app.routes:  # type: ignore[attr-defined]
        if not isinstance(route, Route):
            continue
        path = re.sub(r"\{[^}]+\}", value.replace("/", "%2F"), route.path)
        for method in sorted((route.methods or set()) - {"HEAD"}):
            body: Any = None
            if method in ("POST", "PUT", "PATCH"):
                body = (
                    {**RECORD, "id": value}
                    if route.path == "/v1/outbound"
                    else {"customerId": value}
                )
            yield method, f"{path}?expand={value}&limit={value}", body


def all_answers(client: TestClient, value: str) -> list[str]:
    out = []
    for method, url, body in every_request(client, value):
        for group in ("support", "billing"):
            response = client.request(method, url, json=body, headers=portal(group))
            assert response.status_code != 500, (method, url)
            out.append(response.text + repr(dict(response.headers)))
    return out


def test_external_caller_cannot_detokenize_via_inbound(
    client: TestClient, settings: Settings
) -> None:
    response = client.post("/v1/inbound", json={"customerId": token(INTERNAL_ID)}, headers=portal())
    assert response.status_code == 403
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["type"].endswith("/internal-only")
    assert INTERNAL_ID not in response.text


def test_external_caller_cannot_mint_a_token_via_outbound(
    client: TestClient, settings: Settings
) -> None:
    for chosen in CHOSEN:
        response = client.post("/v1/outbound", json={**RECORD, "id": chosen}, headers=portal())
        assert response.status_code == 403
        assert token(chosen) not in response.text


def test_refusal_of_an_external_caller_is_audited(client: TestClient, settings: Settings) -> None:
    client.post("/v1/inbound", json={"customerId": token(INTERNAL_ID)}, headers=portal())
    client.post("/v1/outbound", json=RECORD, headers=portal("support"))
    events = audit_events(settings)
    assert [(e["caller"], e["direction"], e["outcome"], e["records"]) for e in events] == [
        ("key:portal", "inbound", 403, 0),
        ("key:portal", "outbound", 403, 0),
    ]
    assert [e["fields"] for e in events] == [[], []]  # nothing crossed


def test_no_endpoint_turns_a_token_into_an_internal_value_for_an_external_caller(
    client: TestClient,
) -> None:
    for answer in all_answers(client, token(INTERNAL_ID)):
        assert INTERNAL_ID not in answer


@pytest.mark.parametrize("chosen", CHOSEN)
def test_no_endpoint_mints_a_token_for_a_chosen_internal_value_for_an_external_caller(
    client: TestClient, chosen: str
) -> None:
    minted = token(chosen)
    for answer in all_answers(client, chosen):
        assert minted not in answer


def test_token_minted_for_a_path_traversal_is_422_and_never_forwarded(
    client: TestClient, upstream: tuple[FakeUpstream, str]
) -> None:
    # An internal caller may translate any record it holds; the token it gets for a
    # hostile id is useless on a proxy route: the id is not a uuid, as the internal
    # schema requires, so nothing reaches the internal API.
    out = client.post("/v1/outbound", json={**RECORD, "id": "../../admin"}, headers=headers())
    assert out.status_code == 200
    minted = out.json()["customerId"]
    for method, body in (("GET", None), ("PATCH", {"status": "active"})):
        response = client.request(method, f"/customers/{minted}", json=body, headers=portal())
        assert response.status_code == 422, response.text
        problem = response.json()
        assert problem["type"].endswith("/internal-schema-violation")
        # the field, never the internal rule (uuid): the internal data model stays inside
        assert problem["errors"] == [
            {"pointer": "/customerId", "message": "does not fit the internal field"}
        ]
        assert "admin" not in response.text and "uuid" not in response.text
    assert upstream[0].seen == []


def test_detokenized_body_field_must_fit_the_internal_schema(
    client: TestClient, upstream: tuple[FakeUpstream, str]
) -> None:
    hostile = token("../../admin")
    response = client.patch(
        f"/customers/{token(INTERNAL_ID)}", json={"customerId": hostile}, headers=portal()
    )
    assert response.status_code == 422
    assert response.json()["errors"][0]["pointer"] == "/customerId"
    inbound = client.post("/v1/inbound", json={"customerId": hostile}, headers=headers())
    assert inbound.status_code == 422
    # an internal caller (the only one /v1/inbound serves) is told the rule
    assert inbound.json()["errors"] == [
        {"pointer": "/customerId", "message": "format: not a valid uuid"}
    ]
    assert inbound.json()["errors"] == [
        {"pointer": "/customerId", "message": "format: not a valid uuid"}
    ]
    assert upstream[0].seen == []


def test_external_caller_still_reaches_the_proxy_routes(client: TestClient) -> None:
    # Pins what already held: the wall is on the translation endpoints, not the proxy.
    response = client.get(f"/customers/{token(INTERNAL_ID)}", headers=portal())
    assert response.status_code == 200
    assert response.json()["customerId"] == token(INTERNAL_ID)


def test_internal_caller_is_declared_with_side_internal(tmp_path: Path) -> None:
    text = (
        "callers:\n"
        "  - {{name: a, side: internal, groups: [support], api_keys: ['{}']}}\n"
        "  - {{name: b, groups: [support], api_keys: ['{}']}}\n"
    ).format(sha("k-a" * 10), sha("k-b" * 10))
    callers = Callers.from_yaml(text, ["support"])
    assert [(c.name, c.side, c.identity) for c in callers.callers] == [
        ("a", "internal", "key:a"),
        ("b", "external", "key:b"),
    ]


@pytest.mark.parametrize("side", ["partner", "Internal", "true", "[internal]"])
def test_unknown_side_is_refused_at_start_up(side: str) -> None:
    text = f"callers:\n  - name: a\n    side: {side}\n    groups: [support]\n    api_keys: ['{sha('k' * 40)}']\n"
    with pytest.raises(
        ConfigError, match=r"<callers>:3: 'a' 'side' must be one of: internal, external"
    ):
        Callers.from_yaml(text, ["support"])
    jwt = "jwt:\n  issuer: i\n  audience: a\n  algorithms: [HS256]\n  secret_env: S\n"
    with pytest.raises(ConfigError, match=r"jwt 'side' must be one of"):
        Callers.from_yaml(jwt + f"  side: {side}\n", ["support"], {"S": "s" * 32})
