"""The runtime copied verbatim into a package, as `shimgen generate` does, and served for real.

A copy of the golden customer package gets today's shimgen/runtime/ (all parts), the
fixture openapi.json and a small hand-written app.py (what the generator's
app.py template renders). This proves the runtime works with relative imports
only, with the package's own TranslationError, and under uvicorn with two
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

from shimgen.paths import RUNTIME_DIR
from shimgen.render.runtime import runtime_files
from tests.service_support import (
    FIELDS_IN,
    FIELDS_OUT,
    GOLDEN,
    KEY_PARTNER,
    KEYS_FILE,
    OPENAPI,
    RECORD,
    write_callers,
)

APP_PY = f"""
import json
from importlib import resources

from .runtime.service.app import ShimSpec, build_app
from .runtime.service.settings import Settings
from .translate import GROUPS, MAPPING_SHA256, MAPPING_VERSION, SHIM, to_external, to_internal

SPEC = ShimSpec(
    name=SHIM, version=MAPPING_VERSION, sha256=MAPPING_SHA256, groups=GROUPS,
    to_external=to_external, to_internal=to_internal,
    openapi=json.loads(resources.files("customer_shim").joinpath("openapi.json").read_text()),
    fields_out={FIELDS_OUT!r}, fields_in={FIELDS_IN!r},
)


def create_app(settings=None):
    return build_app(SPEC, settings or Settings.from_env())
"""


@pytest.fixture
def package(tmp_path: Path) -> dict[str, str]:
    """A package root holding customer_shim with the current runtime; returns the env to use."""
    root = tmp_path / "pkg"
    target = root / "customer_shim"
    shutil.copytree(GOLDEN / "customer_shim", target)
    shutil.rmtree(target / "runtime")
    for name in runtime_files():
        (target / "runtime" / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(RUNTIME_DIR / name, target / "runtime" / name)
    (target / "openapi.json").write_text(json.dumps(OPENAPI), encoding="utf-8")
    (target / "app.py").write_text(APP_PY, encoding="utf-8")
    return {
        **{k: v for k, v in os.environ.items() if not k.startswith(("SHIM_", "PROMETHEUS_"))},
        "PYTHONPATH": str(root),
        "SHIM_KEYS_FILE": str(KEYS_FILE),
        "SHIM_CALLERS_FILE": str(write_callers(tmp_path / "callers.yaml")),
        "SHIM_AUDIT_URL": f"sqlite:///{tmp_path / 'audit.db'}",
        "SHIM_LOG_LEVEL": "WARNING",
    }


def test_copied_runtime_translates_with_its_own_classes(package: dict[str, str]) -> None:
    script = f"""
import json
from starlette.testclient import TestClient
from customer_shim.app import create_app
h = {{"X-API-Key": {KEY_PARTNER!r}, "Shim-Group": "billing"}}
with TestClient(create_app()) as c:
    ok = c.post("/v1/outbound", json={RECORD!r}, headers=h)
    bad = c.post("/v1/outbound", json={{**{RECORD!r}, "birth_date": "x"}}, headers=h)
    print(json.dumps([ok.status_code, bad.status_code, bad.json()["errors"]]))
"""
    out = subprocess.run(
        [sys.executable, "-W", "ignore", "-c", script],
        env=package,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    ok, bad, errors = json.loads(out)
    assert (ok, bad) == (200, 422)
    assert [e["pointer"] for e in errors] == ["/birth_date"]


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


def test_serve_two_workers(package: dict[str, str], tmp_path: Path) -> None:
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    serve = "from customer_shim.runtime.service.cli import main; raise SystemExit(main('customer_shim'))"
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
