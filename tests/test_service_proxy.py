"""Proxy routes (shimgen/runtime/service/proxy.py) against a fake internal API.

The fake upstream is a Starlette app reached through httpx.ASGITransport, so
the tests see exactly what the shim forwards (path, query, headers, body) and
can make the upstream fail in every way the contract names.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Mount, Route
from starlette.testclient import TestClient

from shimgen.runtime.service import app as service
from shimgen.runtime.service import proxy
from shimgen.runtime.service.app import build_app
from shimgen.runtime.service.settings import Settings
from shimgen.runtime.service.validate import InternalFit
from tests.service_support import (
    KEY_HELPDESK,
    KEYS_FILE,
    RECORD,
    golden,
    headers,
    make_spec,
    token,
    write_callers,
)
from tests.test_service_runtime import assert_problem, audit_events

LEAK = "upstream-secret-4111111111111111"
SECOND = {**RECORD, "id": "a9d1b7c4-2e3f-4b8a-8c6d-5f0e1a2b3c44", "status": "X"}


def uid(name: str) -> str:
    """A uuid standing for one of FakeUpstream's scripted answers: internal ids are uuids
    (the internal schema says so, and detokenized values are held to it)."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, name))


_SCRIPTED = {
    uid(n): n
    for n in [
        "missing",
        "boom",
        "text",
        "notjson",
        "invalid",
        "scalar",
        "redirect",
        "gone",
        "untranslatable",
        "teapot",
        "slow",
    ]
}


class FakeUpstream:
    """The internal API: answers by internal id, records what it was sent."""

    def __init__(self) -> None:
        self.seen: list[dict[str, Any]] = []
        # The shim's base URL has a path (/base) that every internal path goes under.
        self.app = Starlette(
            routes=[
                Mount(
                    "/base",
                    routes=[
                        Route("/internal/customers", self.listing, methods=["GET"]),
                        Route("/internal/customers/{id}", self.one, methods=["GET", "PATCH"]),
                    ],
                )
            ]
        )

    async def listing(self, request: Request) -> Response:
        self.seen.append({"path": request.url.path, "query": list(request.query_params.items())})
        return JSONResponse([RECORD, SECOND])

    async def one(self, request: Request) -> Response:
        cid = request.path_params["id"]
        cid = _SCRIPTED.get(cid, cid)
        body = await request.body()
        self.seen.append(
            {
                "method": request.method,
                "path": request.url.path,
                "query": list(request.query_params.multi_items()),
                "headers": dict(request.headers),
                "body": json.loads(body) if body else None,
            }
        )
        leak = {"X-Internal-Secret": LEAK}
        if cid == RECORD["id"]:
            record = dict(RECORD)
            if request.method == "PATCH":
                record.update(json.loads(body))
            return JSONResponse(record, headers=leak)
        answers: dict[str, Callable[[], Response]] = {
            "missing": lambda: JSONResponse({"error": LEAK}, 404, headers=leak),
            "boom": lambda: JSONResponse({"error": LEAK}, 500, headers=leak),
            "text": lambda: Response(LEAK, media_type="text/plain"),
            "notjson": lambda: Response(LEAK, media_type="application/json"),
            "invalid": lambda: JSONResponse({**RECORD, "cards": [{"number": LEAK, "cvv": "1"}]}),
            "scalar": lambda: JSONResponse(42),
            "redirect": lambda: Response(status_code=302, headers={"location": "/x"}),
            "gone": lambda: Response(status_code=204),
            "untranslatable": lambda: JSONResponse({**RECORD, "birth_date": "1850-01-01"}),
        }
        if cid == "slow":
            await anyio.sleep(5)
        return answers.get(cid, lambda: Response(status_code=418))()


@pytest.fixture
def upstream() -> FakeUpstream:
    return FakeUpstream()


@pytest.fixture
def client(
    tmp_path: Path, upstream: FakeUpstream, monkeypatch: pytest.MonkeyPatch
) -> Iterator[TestClient]:
    monkeypatch.setenv("SHIM_KEYS_FILE", str(KEYS_FILE))
    transport = httpx.ASGITransport(app=upstream.app)

    def with_fake(base_url: str, timeout: float) -> proxy.Upstream:
        return proxy.Upstream(base_url, timeout, transport=transport)

    monkeypatch.setattr(service, "Upstream", with_fake)
    settings = Settings(
        callers_file=str(write_callers(tmp_path / "callers.yaml")),
        audit_url=f"jsonl:///{tmp_path / 'audit.jsonl'}",
        instance="test",
        upstream_url="http://upstream.test/base",
        upstream_timeout=0.3,
    )
    with TestClient(build_app(make_spec(), settings), raise_server_exceptions=False) as c:
        c.app.state.settings_for_test = settings  # type: ignore[attr-defined]
        yield c


def events(client: TestClient) -> list[dict[str, Any]]:
    return audit_events(client.app.state.settings_for_test)  # type: ignore[attr-defined]


def no_leak(response: httpx.Response) -> None:
    assert LEAK not in response.text
    assert "x-internal-secret" not in response.headers
    assert RECORD["id"] not in response.text


def test_get_detokenizes_forwards_declared_query_and_translates(
    client: TestClient, upstream: FakeUpstream
) -> None:
    url = f"/customers/{token(RECORD['id'])}?expand=cards&expand=x&debug=1"
    response = client.get(url, headers=headers(group="billing", **{"X-Request-Id": "req-1"}))
    assert response.status_code == 200, response.text
    assert response.json() == golden.to_external(RECORD, "billing")
    no_leak(response)
    [seen] = upstream.seen
    assert seen["path"] == f"/base/internal/customers/{RECORD['id']}"
    assert seen["query"] == [("expand", "cards"), ("expand", "x")]
    assert seen["headers"]["x-request-id"] == response.headers["x-request-id"]  # the shim's own
    assert "x-api-key" not in seen["headers"] and "shim-group" not in seen["headers"]
    [event] = events(client)  # one record per proxy request
    assert (event["direction"], event["outcome"], event["records"]) == ("proxy", 200, 1)
    assert event["upstream_status"] == 200
    assert event["route"] == "GET /customers/{customerId}"


def test_list_route_without_params(client: TestClient, upstream: FakeUpstream) -> None:
    response = client.get("/customers?limit=2&offset=9", headers=headers(group="billing"))
    assert response.status_code == 200
    assert response.json() == [golden.to_external(r, "billing") for r in (RECORD, SECOND)]
    assert upstream.seen[0]["query"] == [("limit", "2")]
    [event] = events(client)
    assert (event["direction"], event["records"]) == ("proxy", 2)
    assert "customerId:tokenize" in event["fields"]  # what came out


def test_route_groups_are_enforced(client: TestClient, upstream: FakeUpstream) -> None:
    assert_problem(client.get("/customers", headers=headers(key=KEY_HELPDESK)), 403)
    assert upstream.seen == []


def test_patch_translates_the_body_inbound(client: TestClient, upstream: FakeUpstream) -> None:
    url = f"/customers/{token(RECORD['id'])}"
    response = client.patch(url, json={"status": "suspended"}, headers=headers())
    assert response.status_code == 200, response.text
    assert upstream.seen[0]["body"] == {"status": "S"}
    assert response.json()["status"] == "suspended"


def test_patch_mass_assignment_is_422_and_nothing_forwarded(
    client: TestClient, upstream: FakeUpstream
) -> None:
    url = f"/customers/{token(RECORD['id'])}"
    body = assert_problem(client.patch(url, json={"email": "x@y.z"}, headers=headers()), 422)
    assert body["errors"][0]["pointer"] == "/email"
    assert upstream.seen == []


def test_patch_needs_json(client: TestClient) -> None:
    url = f"/customers/{token(RECORD['id'])}"
    hdrs = {**headers(), "Content-Type": "text/plain"}
    assert_problem(client.patch(url, content=b"{}", headers=hdrs), 415)


@pytest.mark.parametrize("bad", ["t1.nope", "plain-id", RECORD["id"]])
def test_path_param_that_does_not_reverse_is_404(
    client: TestClient, upstream: FakeUpstream, bad: str
) -> None:
    assert_problem(client.get(f"/customers/{bad}", headers=headers()), 404)
    assert upstream.seen == []
    [event] = events(client)
    assert (event["direction"], event["outcome"], event["upstream_status"]) == ("proxy", 404, None)


@pytest.mark.parametrize(
    ("internal_id", "status"),
    [
        ("missing", 404),
        ("boom", 502),
        ("text", 502),
        ("notjson", 502),
        ("invalid", 502),
        ("scalar", 502),
        ("redirect", 502),
        ("untranslatable", 502),
        ("teapot", 502),
        ("slow", 504),
    ],
)
def test_upstream_failures(client: TestClient, internal_id: str, status: int) -> None:
    response = client.get(f"/customers/{token(uid(internal_id))}", headers=headers())
    assert_problem(response, status)
    no_leak(response)


def test_upstream_204_is_passed_on_empty(client: TestClient) -> None:
    response = client.get(f"/customers/{token(uid('gone'))}", headers=headers())
    assert response.status_code == 204
    assert response.content == b""


def test_untranslatable_upstream_answer_is_audited(client: TestClient) -> None:
    client.get(f"/customers/{token(uid('untranslatable'))}", headers=headers())
    assert [(e["direction"], e["outcome"], e["upstream_status"]) for e in events(client)] == [
        ("proxy", 502, 200)
    ]


def test_readyz_checks_upstream(client: TestClient) -> None:
    response = client.get("/readyz")
    assert response.status_code == 200
    assert response.json()["checks"] == {"keys": "ok", "audit": "ok", "upstream": "ok"}


def test_unconfigured_upstream_is_503(client: TestClient, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(client.app.state.shim, "upstream", None)  # type: ignore[attr-defined]
    body = assert_problem(client.get(f"/customers/{token(RECORD['id'])}", headers=headers()), 503)
    assert body["type"].endswith("/upstream-not-configured")


def test_connection_refused_is_502(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SHIM_KEYS_FILE", str(KEYS_FILE))
    settings = Settings(
        callers_file=str(write_callers(tmp_path / "callers.yaml")),
        audit_url=f"jsonl:///{tmp_path / 'audit.jsonl'}",
        upstream_url="http://127.0.0.1:9",
    )
    with TestClient(build_app(make_spec(), replace(settings))) as client:
        response = client.get(f"/customers/{token(RECORD['id'])}", headers=headers())
        assert_problem(response, 502)


def test_integer_path_param_is_converted(monkeypatch: pytest.MonkeyPatch) -> None:
    """A path parameter whose external field is an integer reaches to_internal as an int."""
    openapi = make_spec().openapi
    openapi["components"]["schemas"]["InboundPayload"]["properties"]["n"] = {"type": "integer"}
    seen: list[Any] = []

    def to_internal(payload: dict[str, Any], group: str | None) -> dict[str, Any]:
        seen.append(payload)
        return {"k": payload["n"]}

    spec = make_spec(openapi=openapi, to_internal=to_internal)
    route = service.RouteSpec(
        "GET", "/n/{n}", "GET", "/i/{k}", (("n", "n", "k", "k"),), frozenset({"support"}), (), False
    )
    endpoint = proxy.ProxyRoute.__new__(proxy.ProxyRoute)
    anything = InternalFit({"components": {"schemas": {"InternalRecord": {}}}})
    endpoint.shim = type("S", (), {"spec": spec, "internal_fit": anything})()  # type: ignore[assignment]
    endpoint.route = route
    endpoint.params = [("n", ("n",), ("k",), "k", True)]
    assert endpoint._internal_path({"n": "42"}, "support", True) == ("/i/42", [42])
    assert seen == [{"n": 42}]
    with pytest.raises(proxy.HTTPProblem):
        endpoint._internal_path({"n": "4x"}, "support", True)
    assert proxy._wants_int(proxy._schema_at(openapi, "InboundPayload", ["n"]))
    assert not proxy._wants_int(proxy._schema_at(openapi, "InboundPayload", ["customerId"]))
