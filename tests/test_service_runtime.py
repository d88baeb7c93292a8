"""The service runtime (shimgen/runtime/service/app.py and friends) end to end through Starlette.

The app is built from a hand-made ShimSpec around the golden customer translator
(see tests/service_support.py) and exercised with Starlette's TestClient, which
runs the lifespan (keys, audit sink) like uvicorn does.
"""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

from bench.echo import build_echo_app
from shimgen.runtime.audit.trail import AuditError
from shimgen.runtime.service import logs
from shimgen.runtime.service.app import build_app
from shimgen.runtime.service.settings import Settings
from tests.service_support import (
    KEY_HELPDESK,
    KEY_PARTNER,
    KEY_SLOW,
    KEYS_FILE,
    RECORD,
    golden,
    headers,
    make_spec,
    token,
    write_callers,
)

PROBLEM_KEYS = {"type", "title", "status", "detail", "request_id"}
SECRETS = ("4111111111111111", "219-09-9999", "jana.novak", "1988-03-14", KEY_PARTNER)


@pytest.fixture(autouse=True)
def _keys_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SHIM_KEYS_FILE", str(KEYS_FILE))
    monkeypatch.delenv("SHIM_KEYS", raising=False)
    monkeypatch.delenv("PROMETHEUS_MULTIPROC_DIR", raising=False)


@pytest.fixture
def log_stream() -> Iterator[io.StringIO]:
    """Everything the ``shim`` logger writes, as JSON lines (DEBUG and up)."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logs.JsonFormatter())
    logs.logger.addHandler(handler)
    yield stream
    logs.logger.removeHandler(handler)


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(
        callers_file=str(write_callers(tmp_path / "callers.yaml")),
        audit_url=f"jsonl:///{tmp_path / 'audit.jsonl'}",
        instance="test",
        rate_limit=1000.0,
        rate_burst=1000,
        max_batch=5,
        log_level="DEBUG",
    )


Client = Callable[..., TestClient]


@pytest.fixture
def client_for(settings: Settings) -> Iterator[Client]:
    """Build an app (spec/settings overridable) and enter its lifespan."""
    stack: list[TestClient] = []

    def make(spec_changes: dict[str, Any] | None = None, **setting_changes: Any) -> TestClient:
        app = build_app(make_spec(**(spec_changes or {})), replace(settings, **setting_changes))
        client = TestClient(app, raise_server_exceptions=False)
        client.__enter__()
        stack.append(client)
        return client

    yield make
    for client in reversed(stack):
        client.__exit__(None, None, None)


@pytest.fixture
def client(client_for: Client) -> TestClient:
    return client_for()


def audit_events(settings: Settings) -> list[dict[str, Any]]:
    path = Path(settings.audit_url.removeprefix("jsonl:///"))
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def assert_problem(response: Any, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body: dict[str, Any] = response.json()
    assert PROBLEM_KEYS <= set(body) <= PROBLEM_KEYS | {"errors"}
    assert body["status"] == status
    assert body["type"].startswith("https://shimgen.dev/problems/")
    assert body["request_id"] == response.headers["x-request-id"]
    for secret in SECRETS:
        assert secret not in response.text
    return body


MAPPING_HEADER = f"customer; version={golden.MAPPING_VERSION}; sha256={golden.MAPPING_SHA256}"


# -- envelope: headers on every response ------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [
        ("GET", "/healthz", 200),
        ("GET", "/openapi.json", 401),  # credentials needed (the view depends on the side)
        ("GET", "/metrics", 200),
        ("GET", "/nowhere", 404),
        ("GET", "/v1/outbound", 405),
        ("POST", "/v1/outbound", 401),
    ],
)
def test_every_response_carries_mapping_and_request_id(
    client: TestClient, method: str, path: str, status: int
) -> None:
    response = client.request(method, path)
    assert response.status_code == status
    assert response.headers["shim-mapping"] == MAPPING_HEADER
    assert len(response.headers["x-request-id"]) == 32
    if status >= 400:
        assert_problem(response, status)


def test_request_id_is_always_the_shims_own(client: TestClient) -> None:
    # The caller's X-Request-Id never becomes the request id (it is kept beside it in the
    # audit trail, see tests/security/test_strict_input.py); each response gets a fresh one.
    seen = set()
    for given in ("abc-123.x:y_z", "a" * 129, "has space", "semi;colon", "<script>"):
        response = client.get("/healthz", headers={"X-Request-Id": given})
        assert response.headers["x-request-id"] != given
        assert len(response.headers["x-request-id"]) == 32
        seen.add(response.headers["x-request-id"])
    assert len(seen) == 5


def test_the_hot_path_and_every_other_route_share_one_request_id_sequence(
    client: TestClient,
) -> None:
    """The translation endpoints' envelope and Starlette's are two objects; their ids are
    one process-wide sequence: one prefix, counting up, never the same id twice."""
    ids = [
        client.request(method, path).headers["x-request-id"]
        for method, path in [("POST", "/v1/outbound"), ("GET", "/healthz")] * 3
    ]
    assert len({i[:16] for i in ids}) == 1
    counts = [int(i[16:], 16) for i in ids]
    assert counts == sorted(counts) and len(set(counts)) == len(counts)


def test_405_keeps_allow_header(client: TestClient) -> None:
    response = client.get("/v1/inbound")
    assert_problem(response, 405)
    assert response.headers["allow"] == "POST"


def test_openapi_json_is_the_spec_document(client: TestClient) -> None:
    assert client.get("/openapi.json", headers=headers(KEY_HELPDESK)).json() == make_spec().openapi


def test_echo_app() -> None:
    with TestClient(build_echo_app()) as echo:
        assert echo.post("/echo", json={"a": [1, 2]}).json() == {"a": [1, 2]}
        assert echo.get("/healthz").status_code == 200
        assert echo.get("/echo").status_code == 405


# -- outbound ----------------------------------------------------------------------------


@pytest.mark.parametrize("group", ["support", "billing"])
def test_outbound_one_record_is_the_group_view(
    client: TestClient, settings: Settings, group: str
) -> None:
    response = client.post("/v1/outbound", json=RECORD, headers=headers(group=group))
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/json"
    assert response.json() == golden.to_external(RECORD, group)
    [event] = audit_events(settings)
    assert event["direction"] == "outbound"
    assert event["caller"] == "key:partner"
    assert event["group"] == group
    assert event["route"] == "POST /v1/outbound"
    assert event["records"] == 1
    assert event["outcome"] == 200
    assert event["mapping"] == "customer"
    assert event["mapping_version"] == golden.MAPPING_VERSION
    assert event["mapping_sha256"] == golden.MAPPING_SHA256
    assert event["request_id"] == response.headers["x-request-id"]
    assert tuple(event["fields"]) == make_spec().fields_out[group]
    assert event["latency_ms"] >= 0
    for secret in SECRETS:
        assert secret not in json.dumps(event)


def test_outbound_batch(client: TestClient, settings: Settings) -> None:
    second = {**RECORD, "id": "a9d1b7c4-2e3f-4b8a-8c6d-5f0e1a2b3c44", "status": "S"}
    response = client.post("/v1/outbound", json=[RECORD, second], headers=headers(group="billing"))
    assert response.status_code == 200
    assert response.json() == [golden.to_external(r, "billing") for r in (RECORD, second)]
    assert audit_events(settings)[0]["records"] == 2
    assert client.post("/v1/outbound", json=[], headers=headers()).json() == []


def test_outbound_batch_over_max_batch_is_413(client: TestClient, settings: Settings) -> None:
    response = client.post("/v1/outbound", json=[RECORD] * 6, headers=headers())
    assert_problem(response, 413)
    [event] = audit_events(settings)  # refused after the gate: recorded, nothing crossed
    assert (event["outcome"], event["records"], event["fields"]) == (413, 0, [])


def test_outbound_schema_violations_list_every_pointer(client: TestClient) -> None:
    bad = {**RECORD, "email": 5, "cards": [{"number": "12ab", "cvv": "123"}], "extra": "zzz"}
    del bad["status"]
    body = assert_problem(client.post("/v1/outbound", json=bad, headers=headers()), 422)
    found = {e["pointer"]: e["message"] for e in body["errors"]}
    assert found["/email"].startswith("type:")
    assert found["/cards/0/number"].startswith("pattern:")
    assert found["/extra"].startswith("additionalProperties:")
    assert found["/status"].startswith("required:")
    assert "12ab" not in json.dumps(body) and "zzz" not in json.dumps(body)


def test_outbound_batch_pointers_carry_the_index(client: TestClient) -> None:
    body = assert_problem(
        client.post("/v1/outbound", json=[RECORD, {**RECORD, "status": "Q"}], headers=headers()),
        422,
    )
    assert [e["pointer"] for e in body["errors"]] == ["/1/status"]


def test_translation_error_is_422_and_audited(client: TestClient, settings: Settings) -> None:
    record = {**RECORD, "birth_date": "not a date"}  # formats are annotations: passes the schema
    body = assert_problem(client.post("/v1/outbound", json=record, headers=headers()), 422)
    assert body["type"].endswith("/translation-failed")
    assert [e["pointer"] for e in body["errors"]] == ["/birth_date"]
    assert "not a date" not in json.dumps(body)
    [event] = audit_events(settings)
    assert (event["outcome"], event["records"], event["fields"]) == (422, 0, [])  # none crossed


def test_result_violating_external_schema_is_422(client: TestClient, settings: Settings) -> None:
    record = {**RECORD, "birth_date": "1850-01-01"}  # birthYear 1850 < external minimum 1900
    body = assert_problem(client.post("/v1/outbound", json=record, headers=headers()), 422)
    assert body["type"].endswith("/external-schema-violation")
    assert body["errors"] == [{"pointer": "/birthYear", "message": "minimum: less than 1900"}]
    assert audit_events(settings)[0]["outcome"] == 422


# -- inbound -------------------------------------------------------------------------------


def test_inbound_detokenizes(client: TestClient, settings: Settings) -> None:
    payload = {"customerId": token(RECORD["id"]), "status": "suspended"}
    response = client.post("/v1/inbound", json=payload, headers=headers(group="billing"))
    assert response.status_code == 200, response.text
    assert response.json() == {"id": RECORD["id"], "status": "S"}
    [event] = audit_events(settings)
    assert event["direction"] == "inbound"
    assert tuple(event["fields"]) == make_spec().fields_in["billing"]


def test_inbound_mass_assignment_is_422_with_pointers(client: TestClient) -> None:
    payload = {"customerId": token(RECORD["id"]), "email": "x@y.z", "contact": {"phone": "1"}}
    body = assert_problem(client.post("/v1/inbound", json=payload, headers=headers()), 422)
    assert {e["pointer"] for e in body["errors"]} == {"/email", "/contact"}


def test_inbound_bad_token_is_422_and_audited(client: TestClient, settings: Settings) -> None:
    body = assert_problem(
        client.post("/v1/inbound", json={"customerId": "t1.nope"}, headers=headers()), 422
    )
    assert [e["pointer"] for e in body["errors"]] == ["/customerId"]
    assert audit_events(settings)[0]["outcome"] == 422


# -- the order of the checks -----------------------------------------------------------------


def test_content_length_over_limit_is_413_after_auth(client_for: Client) -> None:
    """Neither answer reads the body; the size is judged once the caller is known, so the
    413 is charged to its rate limit and audited (tests/security/test_audit_refusals.py)."""
    client = client_for(max_body_bytes=100)
    response = client.post("/v1/outbound", content=b"x" * 101, headers={"X-API-Key": "wrong"})
    assert_problem(response, 401)
    assert_problem(client.post("/v1/outbound", content=b"x" * 101, headers=headers()), 413)


def test_chunked_body_over_limit_is_413(client_for: Client) -> None:
    client = client_for(max_body_bytes=100)

    def chunks() -> Iterator[bytes]:
        yield b"[" + b" " * 60
        yield b" " * 60 + b"]"

    assert_problem(client.post("/v1/outbound", content=chunks(), headers=headers()), 413)


@pytest.mark.parametrize(
    ("hdrs", "status", "www_authenticate"),
    [
        ({}, 401, True),
        ({"X-API-Key": "not-a-key", "Shim-Group": "support"}, 401, True),
        ({"X-API-Key": KEY_PARTNER}, 403, False),
        ({"X-API-Key": KEY_PARTNER, "Shim-Group": "admin"}, 403, False),
        ({"X-API-Key": KEY_HELPDESK, "Shim-Group": "billing"}, 403, False),
    ],
)
def test_auth_and_group_refusals(
    client: TestClient, hdrs: dict[str, str], status: int, www_authenticate: bool
) -> None:
    # Wrong content type and malformed JSON: authentication and group come first.
    response = client.post("/v1/outbound", content=b"{", headers={**hdrs, "Content-Type": "x/y"})
    assert_problem(response, status)
    assert ("www-authenticate" in response.headers) is www_authenticate


@pytest.mark.parametrize(
    ("group", "status", "title"),
    [
        ("support", 200, None),
        (" support\t", 200, None),  # stripped, as select_group does
        ("", 403, "Group required"),
        ("  ", 403, "Group required"),
        ("Support", 403, "Unknown group"),
        ("billing", 403, "Group not allowed"),  # declared, but helpdesk is not a member
        (" billing ", 403, "Group not allowed"),
    ],
)
def test_gate_group_selection_is_select_groups(
    client: TestClient, group: str, status: int, title: str | None
) -> None:
    response = client.post(
        "/v1/outbound", json=RECORD, headers=headers(key=KEY_HELPDESK, group=group)
    )
    assert response.status_code == status
    if title is not None:
        assert response.json()["title"] == title


def test_no_callers_file_means_every_request_is_401(client_for: Client) -> None:
    client = client_for(callers_file=None)
    assert_problem(client.post("/v1/outbound", json=RECORD, headers=headers()), 401)


def test_rate_limit_is_429_with_integer_retry_after(client: TestClient) -> None:
    hdrs = headers(key=KEY_SLOW)
    assert client.post("/v1/inbound", json={}, headers=hdrs).status_code == 200
    assert client.post("/v1/inbound", json={}, headers=hdrs).status_code == 200
    response = client.post("/v1/inbound", content=b"{", headers=hdrs)  # limit before 400
    assert_problem(response, 429)
    assert int(response.headers["retry-after"]) >= 1
    assert 'shim_rate_limited_total{group="support"} 1.0' in client.get("/metrics").text


@pytest.mark.parametrize(
    ("content", "ctype", "status"),
    [
        (b"{}", "text/plain", 415),
        (b"{}", "application/jsonx", 415),
        (b'{"a": 4111111111111111', "application/json", 400),
        (b"", "application/json", 400),
        (b"[" * 40 + b"]" * 40, "application/json", 400),
    ],
)
def test_body_checks(client: TestClient, content: bytes, ctype: str, status: int) -> None:
    hdrs = {**headers(), "Content-Type": ctype}
    for path in ("/v1/outbound", "/v1/inbound"):
        assert_problem(client.post(path, content=content, headers=hdrs), status)


def test_json_with_charset_is_accepted(client: TestClient) -> None:
    hdrs = {**headers(), "Content-Type": "application/json; charset=utf-8"}
    assert client.post("/v1/inbound", content=b"{}", headers=hdrs).status_code == 200


# -- failures -----------------------------------------------------------------------------------


def test_audit_failure_is_503_and_returns_nothing_translated(
    client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    sink = client.app.state.shim.sink  # type: ignore[attr-defined]

    def fail(event: Any) -> None:
        raise AuditError("disk full")

    monkeypatch.setattr(sink, "append", fail)
    response = client.post("/v1/outbound", json=RECORD, headers=headers())
    body = assert_problem(response, 503)
    assert body["type"].endswith("/audit-unavailable")
    assert "Novák" not in response.text and "customerId" not in response.text
    assert "shim_audit_failures_total 1.0" in client.get("/metrics").text


def test_unexpected_exception_is_500_with_request_id_only(
    client_for: Client, log_stream: io.StringIO
) -> None:
    def explode(record: dict[str, Any], group: str | None) -> dict[str, Any]:
        raise RuntimeError(f"secret {record['cards'][0]['number']}")

    client = client_for({"to_external": explode})
    response = client.post("/v1/outbound", json=RECORD, headers=headers())
    body = assert_problem(response, 500)
    assert set(body) == PROBLEM_KEYS
    logged = log_stream.getvalue()
    assert '"error_type":"RuntimeError"' in logged
    assert "4111" not in logged and "Traceback" not in logged


def test_logs_never_carry_values_or_keys(client: TestClient, log_stream: io.StringIO) -> None:
    client.post("/v1/outbound", json=RECORD, headers=headers())
    client.post("/v1/outbound", json={**RECORD, "email": 1}, headers=headers())
    client.post("/v1/outbound", json=RECORD, headers=headers(key=KEY_PARTNER + "x"))
    lines = [json.loads(line) for line in log_stream.getvalue().splitlines()]
    assert {line["status"] for line in lines if line.get("event") == "request"} == {200, 422, 401}
    for secret in (*SECRETS, "Novák", "+420601234567"):
        assert secret not in log_stream.getvalue()
    ok = next(line for line in lines if line.get("status") == 200)
    assert ok["level"] == "info" and ok["caller"] == "key:partner" and ok["group"] == "support"
    assert ok["method"] == "POST" and ok["route"] == "/v1/outbound"


# -- health, readiness, metrics ---------------------------------------------------------------------


def test_readyz_ok(client: TestClient) -> None:
    response = client.get("/readyz")
    assert response.status_code == 200
    assert response.json() == {"status": "ready", "checks": {"keys": "ok", "audit": "ok"}}


def test_readyz_names_the_failing_check(
    client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    sink = client.app.state.shim.sink  # type: ignore[attr-defined]

    def broken() -> None:
        raise AuditError("gone")

    monkeypatch.setattr(sink, "check", broken)
    body = assert_problem(client.get("/readyz"), 503)
    assert body["detail"].endswith("failing checks: audit")


def test_readyz_unreachable_upstream(client_for: Client) -> None:
    client = client_for(upstream_url="http://127.0.0.1:9", upstream_timeout=1.0)
    body = assert_problem(client.get("/readyz"), 503)
    assert body["detail"].endswith("failing checks: upstream")


def test_startup_fails_fast_without_keys(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("SHIM_KEYS_FILE")
    monkeypatch.delenv("SHIM_DEV_KEYS", raising=False)
    app = build_app(make_spec(), settings)
    with pytest.raises(Exception, match="no keyset configured"), TestClient(app):
        pass


def test_metrics_count_requests_and_records(client: TestClient) -> None:
    client.post("/v1/outbound", json=[RECORD, RECORD], headers=headers(group="billing"))
    client.post("/v1/outbound", json=RECORD, headers={})
    text = client.get("/metrics").text
    assert 'shim_requests_total{group="billing",route="POST /v1/outbound",status="200"} 1.0' in text
    assert 'shim_requests_total{group="none",route="POST /v1/outbound",status="401"} 1.0' in text
    assert 'shim_records_total{direction="outbound",group="billing"} 2.0' in text
    assert 'shim_request_duration_seconds_count{route="POST /v1/outbound"} 2.0' in text
