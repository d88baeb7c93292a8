"""The access log (runtime/service/access_log.py): one JSON line per request, route template, never values.

The app is the real service built around the golden customer translator
(tests/service_support.py), run with its lifespan by Starlette's TestClient;
the ``shim`` logger's records are collected through the service's own
:class:`~shimgen.runtime.service.logs.JsonFormatter`, so what is asserted is the line
an operator's collector receives. The attack version (canaries in every part
of a request, the real ``serve``) is tests/security/test_log_leaks.py.
"""

from __future__ import annotations

import io
import json
import logging
import logging.config
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
import uvicorn.config
from starlette.testclient import TestClient

from shimgen.runtime.service import logs
from shimgen.runtime.service.access_log import UNMATCHED, level_for
from shimgen.runtime.service.app import build_app
from shimgen.runtime.service.settings import Settings
from tests.service_support import (
    KEY_PARTNER,
    KEY_PORTAL,
    KEY_SLOW,
    KEYS_FILE,
    RECORD,
    headers,
    make_spec,
    token,
    write_callers,
)


@pytest.fixture(autouse=True)
def _keys_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SHIM_KEYS_FILE", str(KEYS_FILE))
    monkeypatch.delenv("SHIM_KEYS", raising=False)
    monkeypatch.delenv("PROMETHEUS_MULTIPROC_DIR", raising=False)


@pytest.fixture
def log_stream() -> Iterator[io.StringIO]:
    """Everything the ``shim`` logger writes, formatted as the service formats it."""
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
    )


Client = Callable[..., TestClient]


@pytest.fixture
def client_for(settings: Settings) -> Iterator[Client]:
    """A running app with some settings changed (SHIM_ACCESS_LOG, SHIM_LOG_LEVEL)."""
    stack: list[TestClient] = []

    def make(**changes: Any) -> TestClient:
        client = TestClient(
            build_app(make_spec(), replace(settings, **changes)), raise_server_exceptions=False
        )
        client.__enter__()
        stack.append(client)
        return client

    yield make
    for client in reversed(stack):
        client.__exit__(None, None, None)


def access_lines(stream: io.StringIO) -> list[dict[str, Any]]:
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    return [line for line in lines if line.get("event") == "request"]


def test_a_translation_gets_one_line_with_every_field(
    client_for: Client, log_stream: io.StringIO
) -> None:
    client = client_for()
    response = client.post(
        "/v1/outbound", json=RECORD, headers=headers(**{"X-Request-Id": "order-7.import:3"})
    )
    assert response.status_code == 200
    (line,) = access_lines(log_stream)
    latency = line.pop("latency_ms")
    assert isinstance(latency, float) and latency > 0
    assert line.pop("time").endswith("Z")
    assert line == {
        "level": "info",
        "logger": "shim",
        "message": "request",
        "event": "request",
        "request_id": response.headers["x-request-id"],
        "caller_request_id": "order-7.import:3",
        "method": "POST",
        "route": "/v1/outbound",
        "group": "support",
        "caller": "key:partner",
        "side": "internal",
        "status": 200,
    }


def test_a_proxy_route_logs_its_template_never_the_path(
    client_for: Client, log_stream: io.StringIO
) -> None:
    """The concrete path holds a token; the line names the mapping's route template."""
    client = client_for()
    path = f"/customers/{token(RECORD['id'])}"
    response = client.get(path, params={"expand": "contact"}, headers=headers(KEY_PORTAL))
    assert response.status_code == 503  # no upstream configured; the line is written all the same
    (line,) = access_lines(log_stream)
    assert line["method"] == "GET" and line["route"] == "/customers/{customerId}"
    assert line["caller"] == "key:portal" and line["side"] == "external"
    assert token(RECORD["id"]) not in log_stream.getvalue()
    assert "expand" not in log_stream.getvalue() and "contact" not in log_stream.getvalue()


def test_refusals_and_unknown_routes_are_logged_without_what_was_sent(
    client_for: Client, log_stream: io.StringIO
) -> None:
    client = client_for()
    assert client.post("/v1/outbound", json=RECORD, headers=headers(key="wrong")).status_code == 401
    assert client.post("/v1/outbound", json=RECORD, headers=headers(KEY_PORTAL)).status_code == 403
    assert client.get("/customers/by-name/Jana", headers=headers()).status_code == 404
    assert client.request("BREW", "/v1/outbound", headers=headers()).status_code in (404, 405)
    unauthorized, forbidden, missing, odd = access_lines(log_stream)
    assert unauthorized["status"] == 401 and unauthorized["level"] == "warning"
    assert unauthorized["route"] == "/v1/outbound"
    assert "caller" not in unauthorized and "group" not in unauthorized  # never authenticated
    assert forbidden["status"] == 403 and forbidden["caller"] == "key:portal"
    assert forbidden["side"] == "external" and forbidden["group"] == "support"
    assert missing == missing | {"status": 404, "level": "info", "route": UNMATCHED}
    assert missing["method"] == "GET"
    assert odd["method"] == "OTHER" and odd["route"] == UNMATCHED  # a method is free text too
    logged = log_stream.getvalue()
    for sent in ("wrong", "by-name", "Jana", "BREW", "jana.novak", "4111"):
        assert sent not in logged, sent


def test_rate_limited_and_oversized_requests_are_logged(
    client_for: Client, log_stream: io.StringIO
) -> None:
    client = client_for(max_body_bytes=4096)
    slow = headers(KEY_SLOW)
    statuses = [
        client.post("/v1/outbound", json=RECORD, headers=slow).status_code for _ in range(3)
    ]
    assert statuses == [200, 200, 429]
    big = {**RECORD, "email": "x" * 5000 + "@example.com"}
    assert client.post("/v1/outbound", json=big, headers=headers()).status_code == 413
    lines = access_lines(log_stream)
    assert [(line["status"], line["level"]) for line in lines] == [
        (200, "info"), (200, "info"), (429, "warning"), (413, "warning"),
    ]  # fmt: skip
    assert "xxxx" not in log_stream.getvalue()


def test_an_insane_caller_request_id_is_not_logged(
    client_for: Client, log_stream: io.StringIO
) -> None:
    """Only ids the audit trail would keep (1-128 of A-Z a-z 0-9 . _ : -) reach the line."""
    client = client_for()
    for rid in ("has space", "x" * 129, "semi;colon"):
        client.get("/healthz", headers={"X-Request-Id": rid})
    lines = access_lines(log_stream)
    assert len(lines) == 3 and all("caller_request_id" not in line for line in lines)
    assert all(line["route"] == "/healthz" and line["status"] == 200 for line in lines)
    assert "has space" not in log_stream.getvalue() and "semi" not in log_stream.getvalue()


def test_switched_off_there_is_no_access_line(client_for: Client, log_stream: io.StringIO) -> None:
    client = client_for(access_log=False)
    client.post("/v1/outbound", json=RECORD, headers=headers())
    client.post("/v1/outbound", json=RECORD, headers=headers(key="wrong"))
    client.get("/nowhere")
    assert access_lines(log_stream) == []


def test_the_log_level_filters_the_access_line(client_for: Client, log_stream: io.StringIO) -> None:
    client = client_for(log_level="WARNING")
    client.post("/v1/outbound", json=RECORD, headers=headers())
    client.post("/v1/outbound", json=RECORD, headers=headers(key=KEY_PARTNER + "x"))
    assert [line["status"] for line in access_lines(log_stream)] == [401]


@pytest.mark.parametrize(
    ("status", "level"),
    [(200, logging.INFO), (204, logging.INFO), (400, logging.INFO), (404, logging.INFO),
     (422, logging.INFO), (499, logging.INFO), (401, logging.WARNING), (403, logging.WARNING),
     (413, logging.WARNING), (429, logging.WARNING), (500, logging.ERROR),
     (502, logging.ERROR), (503, logging.ERROR), (504, logging.ERROR)],
)  # fmt: skip
def test_level_by_status(status: int, level: int) -> None:
    assert level_for(status) == level


def test_uvicorns_access_log_stays_silent_after_uvicorn_configures_logging(
    settings: Settings,
) -> None:
    """uvicorn's access line is the raw request line (path and query: values).

    uvicorn applies its logging config when it starts, which re-enables a
    disabled logger; the shim's filter outlives that. Without the filter the
    same call writes the line (so this test would see a regression).
    """
    build_app(make_spec(), settings)
    logging.config.dictConfig(uvicorn.config.LOGGING_CONFIG)  # what uvicorn.Config does
    access = logging.getLogger("uvicorn.access")
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    access.addHandler(handler)
    request_line = ("127.0.0.1:5000", "GET", "/customers/tok_SECRET?name=Jana", "1.1", 200)
    try:
        access.info('%s - "%s %s HTTP/%s" %d', *request_line)
        assert stream.getvalue() == ""
        filters = list(access.filters)
        for f in filters:
            access.removeFilter(f)
        access.info('%s - "%s %s HTTP/%s" %d', *request_line)
        assert "tok_SECRET" in stream.getvalue()  # the harness sees a line when one is written
        for f in filters:
            access.addFilter(f)
    finally:
        access.removeHandler(handler)
        logs.configure(settings.log_level)  # silenced again for the tests that follow
