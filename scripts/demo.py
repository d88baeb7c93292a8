"""`make demo`: generate the customer shim, run it as a service on localhost, talk to it, stop it.

Everything it needs is created under demo-out/ (git-ignored): a development keyset, a
callers file with two callers and freshly made API keys, and a SQLite audit trail. Nothing
secret is committed. Standard library only, so the demo shows the shim the way any HTTP
client would see it.
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "demo-out"
PACKAGE = OUT / "customer_shim"
SAMPLE = ROOT / "mappings" / "samples" / "customer.internal.ndjson"


def step(title: str) -> None:
    print(f"\n=== {title}")


def run(*command: str, env: dict[str, str] | None = None) -> str:
    result = subprocess.run(command, capture_output=True, text=True, env=env, cwd=ROOT)
    if result.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed:\n{result.stdout}{result.stderr}")
    return result.stdout


def call(
    base: str, method: str, path: str, key: str | None, group: str | None, body: Any = None
) -> tuple[int, dict[str, str], Any]:
    headers = {"Content-Type": "application/json"}
    if key:
        headers["X-API-Key"] = key
    if group:
        headers["Shim-Group"] = group
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(base + path, data=data, headers=headers, method=method)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, dict(response.headers), json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers), json.loads(exc.read() or b"null")


def show(status: int, body: Any) -> None:
    print(f"HTTP {status}")
    print(json.dumps(body, indent=2, ensure_ascii=False))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def setup() -> tuple[dict[str, str], dict[str, str]]:
    """Keys, callers and environment for a local run; returns (env, api key per caller)."""
    OUT.mkdir(exist_ok=True)
    shimgen = str(Path(sys.executable).parent / "shimgen")
    print(run(shimgen, "check", "mappings/customer.shim.yaml").strip() or "check: OK")
    run(shimgen, "generate", "mappings/customer.shim.yaml", "-o", str(PACKAGE))
    print(f"generated {PACKAGE.relative_to(ROOT)}")
    env = {**os.environ, "PYTHONPATH": str(PACKAGE)}
    keys = OUT / "dev-keys.json"
    if keys.exists() and "audit" not in json.loads(keys.read_text()):
        # A keyset from before audit checkpoints: give it an audit signing key (tokens unchanged).
        cmd = (sys.executable, "-m", "customer_shim.runtime.core.keys", "audit-key", str(keys))
        keys.write_text(run(*cmd, env=env))
    if not keys.exists():
        keys.write_text(
            run(sys.executable, "-m", "customer_shim.runtime.core.keys", "new", env=env)
        )
    api_keys = {"support-desk": secrets.token_urlsafe(24), "billing-ops": secrets.token_urlsafe(24)}
    lines = ["# demo callers: made by `make demo`, never committed", "callers:"]
    for name, group in (("support-desk", "support"), ("billing-ops", "billing")):
        digest = hashlib.sha256(api_keys[name].encode()).hexdigest()
        lines += [
            f"  - name: {name}",
            "    side: internal",  # uses /v1/outbound and /v1/inbound (external callers may not)
            f"    groups: [{group}]",
            f"    api_keys: ['sha256:{digest}']",
        ]
    (OUT / "callers.yaml").write_text("\n".join(lines) + "\n", encoding="utf-8")
    audit = OUT / "audit.db"
    for suffix in ("", "-wal", "-shm", ".checkpoints.jsonl"):
        Path(f"{audit}{suffix}").unlink(missing_ok=True)
    env.update(
        SHIM_KEYS_FILE=str(keys),
        SHIM_CALLERS_FILE=str(OUT / "callers.yaml"),
        SHIM_AUDIT_URL=f"sqlite:///{audit}",
    )
    return env, api_keys


def wait_ready(base: str, server: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise SystemExit(f"the shim exited with {server.returncode} during start-up")
        try:
            with urllib.request.urlopen(base + "/readyz", timeout=1) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.2)
    raise SystemExit("the shim was not ready after 30 s")


def main() -> int:
    step("check and generate the customer shim")
    env, api_keys = setup()
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    step(f"start customer-shim on {base} (SQLite audit trail, development keys)")
    server = subprocess.Popen(
        [sys.executable, "-m", "customer_shim", "serve", "--port", str(port), "--workers", "1"],
        env=env,
        cwd=OUT,
    )
    try:
        wait_ready(base, server)
        print("ready")
        demo(base, api_keys)
    finally:
        step("stop the server")
        server.terminate()
        server.wait(timeout=30)
        # uvicorn re-raises the SIGTERM it handled, so -15 is a clean stop here.
        clean = server.returncode in (0, -15)
        print("stopped" if clean else f"stopped with exit status {server.returncode}")
    step("verify the audit chain")
    print(run(sys.executable, "-m", "customer_shim", "audit", "verify", env=env).strip())
    return 0


def demo(base: str, api_keys: dict[str, str]) -> None:
    record = json.loads(SAMPLE.read_text(encoding="utf-8").splitlines()[0])
    step("the internal record")
    print(json.dumps(record, indent=2, ensure_ascii=False))
    step("POST /v1/outbound as support-desk, group support")
    status, headers, support = call(
        base, "POST", "/v1/outbound", api_keys["support-desk"], "support", record
    )
    show(status, support)
    print("Shim-Mapping:", headers.get("Shim-Mapping") or headers.get("shim-mapping"))
    step("POST /v1/outbound as billing-ops, group billing")
    status, _, billing = call(
        base, "POST", "/v1/outbound", api_keys["billing-ops"], "billing", record
    )
    show(status, billing)
    step("POST /v1/inbound as billing-ops: the token comes back as the internal id")
    payload = {"customerId": billing["customerId"], "status": billing["status"]}
    print("payload:", json.dumps(payload))
    status, _, internal = call(
        base, "POST", "/v1/inbound", api_keys["billing-ops"], "billing", payload
    )
    show(status, internal)
    assert status == 200 and internal.get("id") == record["id"], "inbound round trip failed"
    step("support-desk asks for group billing: 403")
    status, _, problem = call(
        base, "POST", "/v1/outbound", api_keys["support-desk"], "billing", record
    )
    show(status, problem)
    assert status == 403
    step("inbound with a field callers may not write: 422, pointers only, no values")
    bad = {"customerId": billing["customerId"], "riskScore": 0.99, "email": "attacker@example.com"}
    status, _, problem = call(base, "POST", "/v1/inbound", api_keys["billing-ops"], "billing", bad)
    show(status, problem)
    assert status == 422 and "attacker@example.com" not in json.dumps(problem)


if __name__ == "__main__":
    sys.exit(main())
