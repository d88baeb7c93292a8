"""Attack class: values smuggled into the logs.

Issue 11, item 11. The service logs one access line per request; an attacker
(or an ordinary caller) puts values where a careless access log would copy
them: the path (a token), the query, every header (key, bearer token,
``Shim-Group``, ``User-Agent``, ``X-Request-Id``, an unknown one), the body of
a good request, of a refused one and of an oversized one, a route that does not
exist. Each carries the canary :data:`CANARY` (or is a real token), and
nothing the service or its web server prints may contain it.

Two real deployments of the generated customer package, in a subprocess,
forwarding to a real internal API over TCP:

* ``serve`` (what the README runs), whose uvicorn access log must be off;
* uvicorn run by hand on the factory (``uvicorn customer_shim.app:create_app
  --factory``), where uvicorn's access log is on by default and would print
  ``"GET /customers/<token>?expand=<canary> HTTP/1.1" 200``; the shim
  silences it (runtime/logs.py).

Both must still log one access line per request that reached the shim, with
the route's template.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from typer.testing import CliRunner

from shimgen.cli import app as shimgen_app
from tests.security import real_upstream
from tests.security.real_upstream import BROKEN, PLAIN, InternalAPI
from tests.service_support import (
    KEY_PARTNER,
    KEY_PORTAL,
    KEY_SLOW,
    KEYS_FILE,
    RECORD,
    ROOT,
    headers,
    token,
    write_callers,
)

internal_api = real_upstream.internal_api  # the fixture, used by name

CANARY = "c4n4ry-Wq7Zp"
TIMEOUT = 60.0
MAX_BODY = 8192


@pytest.fixture(scope="module")
def package(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The customer shim as ``shimgen generate`` writes it today."""
    out = tmp_path_factory.mktemp("generated") / "customer_shim"
    result = CliRunner().invoke(
        shimgen_app, ["generate", str(ROOT / "mappings" / "customer.shim.yaml"), "-o", str(out)]
    )
    assert result.exit_code == 0, result.output
    return out


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _environment(package: Path, tmp_path: Path, upstream: str) -> dict[str, str]:
    keys = tmp_path / "keys.json"
    shutil.copy(KEYS_FILE, keys)
    return {
        **{k: v for k, v in os.environ.items() if not k.startswith(("SHIM_", "PROMETHEUS_"))},
        "PYTHONPATH": str(package),
        "SHIM_KEYS_FILE": str(keys),
        "SHIM_CALLERS_FILE": str(write_callers(tmp_path / "callers.yaml")),
        "SHIM_AUDIT_URL": f"jsonl:///{tmp_path / 'audit.jsonl'}",
        "SHIM_MAX_BODY_BYTES": str(MAX_BODY),
        "CUSTOMER_UPSTREAM_URL": upstream,
    }


def _run(command: list[str], env: dict[str, str], cwd: Path, port: int) -> tuple[str, str]:
    """Start the service, send :func:`_attack`, stop it (SIGTERM); its stdout and stderr."""
    proc = subprocess.Popen(
        command, env=env, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        start_new_session=True,
    )  # fmt: skip
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + TIMEOUT
        with httpx.Client(base_url=base, timeout=10) as client:
            while True:
                try:
                    if client.get("/healthz").status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                assert proc.poll() is None, proc.communicate()[1][-2000:]
                assert time.monotonic() < deadline, "the shim did not answer /healthz"
                time.sleep(0.1)
            _attack(client)
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=TIMEOUT)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.communicate()
    return out, err


# (method, path, status, route template) of each request that reaches the shim, in order
EXPECTED = [
    ("GET", "/healthz", 200, "/healthz"),  # the readiness poll's last request
    ("GET", "/customers/{customerId}", 200, "/customers/{customerId}"),
    ("PATCH", "/customers/{customerId}", 422, "/customers/{customerId}"),
    ("GET", "/customers/{customerId}", 502, "/customers/{customerId}"),
    ("POST", "/v1/outbound", 200, "/v1/outbound"),
    ("POST", "/v1/outbound", 401, "/v1/outbound"),
    ("POST", "/v1/outbound", 401, "/v1/outbound"),
    ("POST", "/v1/outbound", 403, "/v1/outbound"),
    ("POST", "/v1/outbound", 413, "/v1/outbound"),
    ("POST", "/v1/outbound", 422, "/v1/outbound"),
    ("POST", "/v1/outbound", 200, "/v1/outbound"),
    ("POST", "/v1/outbound", 200, "/v1/outbound"),
    ("POST", "/v1/outbound", 429, "/v1/outbound"),
    ("GET", "unmatched", 404, "unmatched"),
]


def _attack(client: httpx.Client) -> None:
    """Every request carries the canary somewhere; the statuses are :data:`EXPECTED`'s."""
    path = f"/customers/{token(PLAIN)}"
    slow_record = {**RECORD, "name": {"given": CANARY, "family": "Novák"}}
    noisy = {"User-Agent": f"agent-{CANARY}", "X-Debug": CANARY, "Cookie": f"s={CANARY}"}
    sent = [
        client.get(path, params={"expand": CANARY}, headers=headers(KEY_PORTAL, **noisy)),
        client.patch(path, json={"status": CANARY}, headers=headers(KEY_PORTAL)),
        client.get(f"/customers/{token(BROKEN)}", headers=headers(KEY_PORTAL)),
        client.post(
            "/v1/outbound",
            json={**RECORD, "email": f"{CANARY}@example.com"},
            headers=headers(**{"X-Request-Id": f"not sane {CANARY}"}),
        ),
        client.post("/v1/outbound", json=RECORD, headers=headers(key=KEY_PARTNER + CANARY)),
        client.post(
            "/v1/outbound",
            json=RECORD,
            headers={"Authorization": f"Bearer {CANARY}", "Shim-Group": "support"},
        ),
        client.post("/v1/outbound", json=RECORD, headers=headers(group=CANARY)),
        client.post("/v1/outbound", json={**RECORD, "email": CANARY * 1000}, headers=headers()),
        client.post("/v1/outbound", json={**RECORD, "status": CANARY}, headers=headers()),
        *(
            client.post("/v1/outbound", json=slow_record, headers=headers(KEY_SLOW))
            for _ in range(3)
        ),
        client.get(f"/{CANARY}/customers", params={"q": CANARY}, headers=headers()),
    ]
    assert [r.status_code for r in sent] == [e[2] for e in EXPECTED[1:]], [
        (r.status_code, r.text[:200]) for r in sent
    ]


def _assert_no_leak_and_one_line_each(out: str, err: str) -> list[dict[str, Any]]:
    printed = out + err
    assert CANARY not in printed
    for secret in (token(PLAIN), token(BROKEN), KEY_PARTNER, KEY_PORTAL, RECORD["email"]):
        assert secret not in printed
    assert "HTTP/1.1" not in printed  # no web-server access line (they quote the request line)
    lines = [json.loads(line) for line in err.splitlines() if line.startswith("{")]
    access = [line for line in lines if line.get("event") == "request"]
    assert [(a["method"], a["route"], a["status"]) for a in access[-len(EXPECTED) :]] == [
        (method, route, status) for method, _, status, route in EXPECTED
    ]
    return access


def test_serve_logs_every_request_and_never_a_value(
    package: Path, internal_api: tuple[InternalAPI, str], tmp_path: Path
) -> None:
    port = _free_port()
    command = [sys.executable, "-m", "customer_shim", "serve", "--port", str(port)]
    out, err = _run(command, _environment(package, tmp_path, internal_api[1]), tmp_path, port)
    access = _assert_no_leak_and_one_line_each(out, err)
    ok = access[-len(EXPECTED) + 1]
    assert ok["caller"] == "key:portal" and ok["side"] == "external" and ok["group"] == "support"
    refused = access[-len(EXPECTED) + 5]  # a wrong key: no caller, the shim's own request id
    assert "caller" not in refused and len(refused["request_id"]) == 32


def test_uvicorn_run_by_hand_prints_no_request_line(
    package: Path, internal_api: tuple[InternalAPI, str], tmp_path: Path
) -> None:
    """uvicorn's access log is on by default here; the shim silences it from its factory."""
    port = _free_port()
    command = [sys.executable, "-m", "uvicorn", "customer_shim.app:create_app", "--factory",
               "--port", str(port)]  # fmt: skip
    out, err = _run(command, _environment(package, tmp_path, internal_api[1]), tmp_path, port)
    _assert_no_leak_and_one_line_each(out, err)
