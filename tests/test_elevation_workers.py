"""Grants across real worker processes: the golden hr shim served by uvicorn with two workers.

The grant is requested and approved with the package's own CLI (``hr-shim access``,
over HTTP); then requests in ``payroll-corrections`` go through fresh connections,
so both workers answer (the audit trail's chains, one per process, show which).
A revocation and an expiry each refuse the very next request on every worker:
no tail. Everything runs the standalone package with shimgen hidden.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from shimgen.runtime.audit import trail
from tests.service_support import KEYS_FILE, sha

ROOT = Path(__file__).resolve().parent.parent
HR = ROOT / "generated_examples" / "hr_shim"
HIDE_SHIMGEN = "import sys; sys.modules['shimgen'] = None\n"
RECORD = json.loads((HR / "tests" / "http_canary.json").read_text(encoding="utf-8"))["record"]
GROUP = "payroll-corrections"
KEYS = {"pat": "pat-" + "p" * 40, "olga": "olga-" + "o" * 40}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _post(url: str, body: Any, headers: dict[str, str]) -> int:
    request = urllib.request.Request(url, json.dumps(body).encode(), headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return int(response.status)
    except urllib.error.HTTPError as exc:
        return int(exc.code)


@pytest.fixture
def served(tmp_path: Path) -> Any:
    callers = tmp_path / "callers.yaml"
    callers.write_text(
        "callers:\n"
        "  - name: pat\n    side: internal\n    groups: [payroll, payroll-corrections]\n"
        f"    api_keys: ['{sha(KEYS['pat'])}']\n"
        "  - name: olga\n    side: internal\n    groups: [hr-ops]\n"
        f"    api_keys: ['{sha(KEYS['olga'])}']\n",
        encoding="utf-8",
    )
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("SHIM_", "PROMETHEUS_"))},
        "PYTHONPATH": str(HR),
        "PYTHONDONTWRITEBYTECODE": "1",
        "SHIM_KEYS_FILE": str(KEYS_FILE),
        "SHIM_CALLERS_FILE": str(callers),
        "SHIM_AUDIT_URL": f"sqlite:///{tmp_path / 'audit.db'}",
        "SHIM_LOG_LEVEL": "WARNING",
        "SHIM_RATE_LIMIT": "0",
    }
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    main = HIDE_SHIMGEN + "from hr_shim.__main__ import main; main()"
    proc = subprocess.Popen(
        [sys.executable, "-c", main, "serve", "--port", str(port), "--workers", "2"],
        env=env,
        cwd=tmp_path,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(f"{base}/readyz", timeout=2) as response:
                    if response.status == 200:
                        break
            except (OSError, urllib.error.HTTPError):
                pass
            assert proc.poll() is None and time.monotonic() < deadline, "shim did not start"
            time.sleep(0.2)

        def cli(who: str, *argv: str) -> str:
            run = subprocess.run(
                [sys.executable, "-c", main, "access", "--url", base, "--json", *argv],
                env={**env, "SHIM_API_KEY": KEYS[who]},
                capture_output=True,
                text=True,
                timeout=60,
            )
            assert run.returncode == 0, run.stdout + run.stderr
            return run.stdout

        yield base, cli, env["SHIM_AUDIT_URL"]
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def _burst(base: str, n: int = 30) -> list[int]:
    """n requests in the elevated group, each on a new connection (so both workers take some)."""
    hdrs = {"X-API-Key": KEYS["pat"], "Shim-Group": GROUP, "Content-Type": "application/json"}
    return [_post(f"{base}/v1/outbound", RECORD, hdrs) for _ in range(n)]


def _chains(url: str, grant: str | None, outcome: int) -> set[str]:
    """Chains holding a crossing of this outcome (incidents name a route too, but no outcome)."""
    return {
        r["chain"]
        for r in trail.read_records(url)
        if "event" not in r
        and r.get("route") == "POST /v1/outbound"
        and r.get("grant") == grant
        and r["outcome"] == outcome
    }


def test_revocation_and_expiry_hold_on_every_worker_process(served: Any) -> None:
    base, cli, audit_url = served
    assert set(_burst(base, 10)) == {403}  # eligible, no grant
    asked = json.loads(cli("pat", "request", GROUP, "--reason", "fix a failed payment"))
    gid = asked["grant"]["id"]
    approved = json.loads(cli("olga", "approve", gid))
    assert approved["grant"]["state"] == "active"
    assert set(_burst(base)) == {200}
    assert len(_chains(audit_url, gid, 200)) == 2, "both worker processes acted under the grant"
    cli("olga", "revoke", gid, "--reason", "done")
    assert set(_burst(base)) == {403}
    assert len(_chains(audit_url, None, 403)) == 2

    second = json.loads(cli("pat", "request", GROUP, "--reason", "again", "--seconds", "5"))
    active = json.loads(cli("olga", "approve", second["grant"]["id"]))["grant"]
    expires = datetime.fromisoformat(active["expires"].replace("Z", "+00:00")).timestamp()
    assert set(_burst(base, 6)) == {200}
    time.sleep(max(0.0, expires - time.time()) + 0.01)
    assert set(_burst(base)) == {403}  # from second N on, on every worker: no tail
    records = list(trail.read_records(audit_url))
    late = [
        r
        for r in records
        if r.get("grant") == second["grant"]["id"] and r.get("route") == "POST /v1/outbound"
    ]
    assert all(r["time"] < active["expires"] for r in late)
    expired = [r for r in records if r.get("event") == "grant-expired"]
    assert [r["grant"] for r in expired] == [second["grant"]["id"]]  # once, over two processes
    assert trail.verify(records).ok
