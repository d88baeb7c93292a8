"""The real generated customer shim, served for real, its proxy routes forwarding to a real upstream.

The package is the golden record's ``generated_examples/customer_shim`` (its app.py,
openapi.json and copied runtime exactly as `shimgen generate` writes them; test_examples
keeps it in sync), run with shimgen hidden from the import path. The internal API is
tests/security/real_upstream.py's Starlette app on a loopback port. This proves the
runtime works with relative imports only, with the package's own TranslationError, that
the generated routes detokenize and forward, and that it serves under uvicorn with two
workers (multiprocess metrics, one audit database, chains that verify).
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from tests.security.real_upstream import InternalAPI, internal_api
from tests.service_support import (
    GOLDEN,
    KEY_HELPDESK,
    KEY_PARTNER,
    KEYS_FILE,
    RECORD,
    token,
    write_callers,
)

__all__ = ["internal_api"]  # the upstream fixture, re-used
HIDE_SHIMGEN = "import sys; sys.modules['shimgen'] = None  # the package stands alone\n"


@pytest.fixture
def package(tmp_path: Path, internal_api: tuple[InternalAPI, str]) -> dict[str, str]:
    """A copy of the generated package; returns the environment a deployment would set."""
    root = tmp_path / "pkg"
    shutil.copytree(GOLDEN / "customer_shim", root / "customer_shim")
    internal_api[0].seen.clear()
    return {
        **{k: v for k, v in os.environ.items() if not k.startswith(("SHIM_", "PROMETHEUS_"))},
        "PYTHONPATH": str(root),
        "PYTHONDONTWRITEBYTECODE": "1",
        "SHIM_KEYS_FILE": str(KEYS_FILE),
        "SHIM_CALLERS_FILE": str(write_callers(tmp_path / "callers.yaml")),
        "SHIM_AUDIT_URL": f"sqlite:///{tmp_path / 'audit.db'}",
        "SHIM_LOG_LEVEL": "WARNING",
        "CUSTOMER_UPSTREAM_URL": internal_api[1],
    }


def test_generated_app_translates_and_proxies(
    package: dict[str, str], internal_api: tuple[InternalAPI, str]
) -> None:
    """The generated app.py: translation endpoints and both proxy routes of the mapping."""
    customer = token(RECORD["id"])
    script = (
        HIDE_SHIMGEN
        + f"""
import json
from starlette.testclient import TestClient
from customer_shim.app import create_app
h = {{"X-API-Key": {KEY_PARTNER!r}, "Shim-Group": "billing"}}
s = {{"X-API-Key": {KEY_HELPDESK!r}, "Shim-Group": "support"}}
with TestClient(create_app()) as c:
    ok = c.post("/v1/outbound", json={RECORD!r}, headers=h)
    bad = c.post("/v1/outbound", json={{**{RECORD!r}, "birth_date": "x"}}, headers=h)
    got = c.get("/customers/{customer}", params={{"expand": "x", "zz": "y"}}, headers=h)
    patched = c.patch("/customers/{customer}", json={{"status": "suspended"}}, headers=s)
    refused = c.patch("/customers/{customer}", json={{"status": "suspended"}}, headers=h)
    print(json.dumps([ok.status_code, bad.status_code, bad.json()["errors"],
                      got.status_code, got.json(), patched.status_code, patched.json(),
                      refused.status_code]))
"""
    )
    out = subprocess.run(
        [sys.executable, "-W", "ignore", "-c", script],
        env=package,
        capture_output=True,
        text=True,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    ok, bad, errors, got, view, patched, after, refused = json.loads(out.stdout)
    assert (ok, bad) == (200, 422)
    assert [e["pointer"] for e in errors] == ["/birth_date"]
    assert got == 200 and view["customerId"] == customer and view["status"] == "active"
    assert "ssn" not in json.dumps(view) and RECORD["ssn"] not in json.dumps(view)
    assert patched == 200 and after["status"] == "suspended"
    assert refused == 403, "PATCH is granted to support only"
    api = internal_api[0]
    assert [(r["method"], r["id"], r["body"]) for r in api.seen] == [
        ("GET", RECORD["id"], None),
        ("PATCH", RECORD["id"], {"status": "S"}),
    ], "the token became the internal id, the status its internal code"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _get(url: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def test_serve_two_workers(
    package: dict[str, str], internal_api: tuple[InternalAPI, str], tmp_path: Path
) -> None:
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    serve = HIDE_SHIMGEN + "from customer_shim.__main__ import main; main()"
    proc = subprocess.Popen(
        [sys.executable, "-c", serve, "serve", "--port", str(port), "--workers", "2"],
        env=package,
        cwd=tmp_path,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if _get(f"{base}/readyz")[0] == 200:
                    break
            except OSError:
                pass
            assert proc.poll() is None and time.monotonic() < deadline, "shim did not start"
            time.sleep(0.2)
        body = json.dumps(RECORD).encode()
        hdrs = {
            "X-API-Key": KEY_PARTNER,
            "Shim-Group": "support",
            "Content-Type": "application/json",
        }
        for _ in range(20):
            request = urllib.request.Request(f"{base}/v1/outbound", body, hdrs, method="POST")
            with urllib.request.urlopen(request, timeout=5) as response:
                assert response.status == 200
        customer = token(RECORD["id"])
        request = urllib.request.Request(f"{base}/customers/{customer}", headers=hdrs)
        with urllib.request.urlopen(request, timeout=5) as response:
            assert response.status == 200
            assert json.loads(response.read())["customerId"] == customer
        assert [(r["method"], r["id"]) for r in internal_api[0].seen] == [("GET", RECORD["id"])]
        # Each worker flushes its counts every FLUSH_INTERVAL (0.25 s): poll, briefly.
        line = 'shim_requests_total{group="support",route="POST /v1/outbound",status="200"} 20.0'
        deadline = time.monotonic() + 10
        while True:
            status, metrics = _get(f"{base}/metrics")
            assert status == 200
            if line in metrics.decode() or time.monotonic() > deadline:
                break
            time.sleep(0.1)
        assert line in metrics.decode()
    finally:
        proc.terminate()
        proc.wait(timeout=20)
    verify = subprocess.run(
        [sys.executable, "-c", serve,
         "audit", "verify"],
        env=package, cwd=tmp_path, capture_output=True, text=True,
    )  # fmt: skip
    assert verify.returncode == 0, verify.stdout + verify.stderr
