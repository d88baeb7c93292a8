"""Heuristic tracking in the running service: effects, audit events, metric, headers.

The app is the real one (build_app around the golden translator); probing (403s
from naming a group the caller is not in) and mass-assignment (422s on
/v1/inbound) need no warm-up, so they are the detections driven here.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

from shimgen.runtime.audit import trail
from shimgen.runtime.service.app import build_app
from shimgen.runtime.service.settings import Settings
from tests.service_support import (
    KEY_HELPDESK,
    KEY_PARTNER,
    KEYS_FILE,
    RECORD,
    headers,
    make_spec,
    write_callers,
)
from tests.test_service_runtime import assert_problem, audit_events

Client = Callable[..., TestClient]


@pytest.fixture(autouse=True)
def _keys_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SHIM_KEYS_FILE", str(KEYS_FILE))
    monkeypatch.delenv("SHIM_KEYS", raising=False)
    monkeypatch.delenv("PROMETHEUS_MULTIPROC_DIR", raising=False)


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(
        callers_file=str(write_callers(tmp_path / "callers.yaml")),
        audit_url=f"jsonl:///{tmp_path / 'audit.jsonl'}",
        instance="test",
        rate_limit=1000.0,
        rate_burst=1000,
    )


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


def probe(client: TestClient, times: int = 12) -> list[Any]:
    """helpdesk (support only) names billing: a 403 each time, audited."""
    return [
        client.post("/v1/outbound", json=RECORD, headers=headers(KEY_HELPDESK, "billing"))
        for _ in range(times)
    ]


def incidents(settings: Settings) -> list[dict[str, Any]]:
    return [e for e in audit_events(settings) if e.get("event", "").startswith("incident-")]


def test_log_is_the_default_effect(client: TestClient, settings: Settings) -> None:
    probe(client)
    ok = client.post("/v1/outbound", json=RECORD, headers=headers(KEY_HELPDESK))
    assert ok.status_code == 200 and "shim-flag" not in ok.headers
    (opened,) = incidents(settings)
    assert opened["event"] == "incident-opened" and opened["kind"] == "probing"
    assert opened["caller"] == "internal:helpdesk" and opened["effect"] == "log"
    assert opened["evidence"]["observed"] >= 10
    metrics = client.get("/metrics").text
    assert 'shim_detections_total{caller="internal:helpdesk",kind="probing"} 1.0' in metrics


def test_flag_adds_the_header(client_for: Client, settings: Settings) -> None:
    client = client_for({"tracking": {"probing": "flag"}})
    probe(client)
    ok = client.post("/v1/outbound", json=RECORD, headers=headers(KEY_HELPDESK))
    assert ok.status_code == 200
    assert ok.headers["shim-flag"] == "probing"
    other = client.post("/v1/outbound", json=RECORD, headers=headers(KEY_PARTNER))
    assert "shim-flag" not in other.headers  # another caller is not flagged


def test_deny_refuses_with_403_audited(client_for: Client, settings: Settings) -> None:
    client = client_for({"tracking": {"probing": "deny"}})
    probe(client)
    refused = client.post("/v1/outbound", json=RECORD, headers=headers(KEY_HELPDESK))
    body = assert_problem(refused, 403)
    assert body["type"].endswith("/tracking-denied")
    assert refused.headers["shim-flag"] == "probing"
    last = [e for e in audit_events(settings) if "event" not in e][-1]
    assert last["caller"] == "key:helpdesk" and last["outcome"] == 403 and last["records"] == 0
    assert client.post("/v1/outbound", json=RECORD, headers=headers(KEY_PARTNER)).status_code == 200


def test_throttle_answers_429(client_for: Client) -> None:
    client = client_for(
        {"tracking": {"mass-assignment": "throttle"}}, rate_limit=20.0, rate_burst=20
    )
    bad = {"customerId": "x", "email": "someone@example.com"}  # email is not opened inbound
    for _ in range(6):
        client.post("/v1/inbound", json=bad, headers=headers(KEY_PARTNER))
    statuses = [
        client.post("/v1/outbound", json=RECORD, headers=headers(KEY_PARTNER)).status_code
        for _ in range(6)
    ]
    assert 429 in statuses  # a tenth of 20/s, burst 2


def test_incident_events_are_in_the_verified_chain(client: TestClient, settings: Settings) -> None:
    probe(client)
    client.__exit__(None, None, None)  # the lifespan closes the sink
    records = list(trail.read_records(settings.audit_url))
    assert any(r.get("event") == "incident-opened" for r in records)
    verdict = trail.verify(records)
    assert verdict.ok, str(verdict)
    client.__enter__()


def test_tracking_off_observes_nothing(client_for: Client, settings: Settings) -> None:
    client = client_for({"tracking": {"probing": "deny"}}, tracking=False)
    probe(client)
    assert (
        client.post("/v1/outbound", json=RECORD, headers=headers(KEY_HELPDESK)).status_code == 200
    )
    assert incidents(settings) == []


def test_audit_anomalies_reports_the_incidents(
    client_for: Client, settings: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    """The offline report reads the store: the incident, its evidence, the caller's traffic."""
    from shimgen.runtime.audit.anomalies import main as anomalies
    from shimgen.runtime.service.cli import main as cli

    client = client_for({"tracking": {"probing": "flag"}})
    probe(client)
    assert anomalies([settings.audit_url, "--since", "1h"]) == 0
    out = capsys.readouterr().out
    assert "incidents since" in out and ": 1 (0 closed, 1 open)" in out
    assert "probing  effect=flag  caller=internal:helpdesk" in out
    # when it opened and that it is open, in words ("... to open" read as a destination)
    assert re.search(r"^from \S+Z still open  probing  ", out, re.M), out
    (incident,) = [line for line in out.splitlines() if "incident=" in line]
    # no group was accepted (the probes named one the caller is not in): "-", not Python's None
    assert "  group=-  " in incident and "None" not in out
    # the evidence is the next line, indented; printable() would show an embedded "\n" as \x0a
    assert "\\x0a" not in out
    evidence = out.splitlines()[out.splitlines().index(incident) + 1]
    assert evidence.startswith("    evidence: ") and "observed=" in evidence
    assert "internal:helpdesk: 12 requests, 0 records, 12 refused (4xx)" in out
    # through the package CLI's verb, and with a period that excludes it
    assert cli("customer_shim", ["audit", "anomalies", settings.audit_url, "--since", "1h"]) == 0
    assert "1 open" in capsys.readouterr().out
    assert anomalies([settings.audit_url], now=10**10) == 0
    assert ": 0 (0 closed, 0 open)" in capsys.readouterr().out.splitlines()[-1]


def test_a_422_on_outbound_is_probing_not_mass_assignment(
    client_for: Client, settings: Settings
) -> None:
    """Mass-assignment is about what a caller sends in; a bad /v1/outbound body is not that."""
    client = client_for()
    for _ in range(12):
        response = client.post("/v1/outbound", json="not a record", headers=headers(KEY_PARTNER))
        assert response.status_code == 422
    assert [e["kind"] for e in incidents(settings)] == ["probing"]
