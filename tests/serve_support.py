"""Running the real generated customer shim (``python -m customer_shim serve``) under load.

Not a test module: the shared rate-limit tests (``tests/test_shared_store.py``,
``tests/security/test_shared_limits.py``) start the golden package in
``generated_examples/customer_shim`` as an operator would, with 1 or more
workers, send it requests from a few threads on keep-alive connections, and
count what was accepted (200), refused (429) and how long each request took.
"""

from __future__ import annotations

import hashlib
import http.client
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from tests.service_support import GOLDEN, KEYS_FILE, RECORD

STARTUP = 60.0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def write_rate_callers(path: Path, per_second: float, burst: int) -> tuple[Path, str]:
    """A callers file with one internal caller (a fresh name: its own bucket) and its key."""
    key = "rate-" + secrets.token_hex(20)
    digest = hashlib.sha256(key.encode()).hexdigest()
    path.write_text(
        "callers:\n"
        f"  - name: rate-{secrets.token_hex(6)}\n"
        "    side: internal\n"
        "    groups: [support]\n"
        f"    api_keys: ['sha256:{digest}']\n"
        f"    rate_limit: {{per_second: {per_second}, burst: {burst}}}\n",
        encoding="utf-8",
    )
    return path, key


def serve_env(tmp_path: Path, callers: Path, instance: str) -> dict[str, str]:
    """The environment of one replica: its own audit file, the test keyset, no upstream."""
    keys = tmp_path / "keys.json"
    if not keys.exists():
        shutil.copy(KEYS_FILE, keys)
    return {
        **{k: v for k, v in os.environ.items() if not k.startswith(("SHIM_", "PROMETHEUS_"))},
        "PYTHONPATH": str(GOLDEN),
        "SHIM_KEYS_FILE": str(keys),
        "SHIM_CALLERS_FILE": str(callers),
        "SHIM_AUDIT_URL": f"sqlite:///{tmp_path / f'audit-{instance}.db'}",
        "SHIM_INSTANCE": instance,
        "CUSTOMER_UPSTREAM_URL": "http://127.0.0.1:9/",
    }


def serve(
    env: dict[str, str], workers: int, cwd: Path, port: int, log: Path
) -> subprocess.Popen[bytes]:
    """``python -m customer_shim serve`` in its own process group; stderr (the logs) to ``log``."""
    with log.open("ab") as sink:
        return subprocess.Popen(
            [sys.executable, "-m", "customer_shim", "serve", "--port", str(port),
             "--workers", str(workers)],
            env=env, cwd=cwd, stdout=subprocess.DEVNULL, stderr=sink,
            start_new_session=True,  # its own process group: its workers are stopped with it
        )  # fmt: skip


def stop(proc: subprocess.Popen[bytes]) -> None:
    """SIGTERM to the service's group, SIGKILL if it has not ended within 20 s."""
    if proc.poll() is not None:
        return
    os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


def wait_healthy(proc: subprocess.Popen[bytes], port: int, log: Path) -> None:
    deadline = time.monotonic() + STARTUP
    while True:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as r:
                if r.status == 200:
                    return
        except OSError:
            pass
        assert proc.poll() is None, log.read_text()[-3000:]
        assert time.monotonic() < deadline, "the shim did not answer /healthz"
        time.sleep(0.1)


@dataclass
class Result:
    """What one :meth:`Load.run` saw."""

    seconds: float = 0.0
    ok: int = 0
    limited: int = 0
    errors: int = 0
    worst: float = 0.0
    latencies: list[float] = field(default_factory=list)

    def summary(self) -> dict[str, float]:
        ordered = sorted(self.latencies) or [0.0]
        return {
            "seconds": round(self.seconds, 2),
            "ok": self.ok,
            "limited": self.limited,
            "errors": self.errors,
            "ok_per_s": round(self.ok / self.seconds, 1) if self.seconds else 0.0,
            "p50_ms": round(ordered[len(ordered) // 2] * 1000, 2),
            "worst_ms": round(self.worst * 1000, 2),
        }


class Load:
    """``concurrency`` threads, each on its own keep-alive connection to one of ``ports``."""

    def __init__(self, ports: list[int], key: str, concurrency: int = 8) -> None:
        self.ports = ports
        self.concurrency = concurrency
        self.body = json.dumps(RECORD).encode()
        self.headers = {"X-API-Key": key, "Shim-Group": "support",
                        "Content-Type": "application/json"}  # fmt: skip

    def run(self, seconds: float) -> Result:
        result = Result()
        lock = threading.Lock()
        start = time.perf_counter()
        end = start + seconds

        def worker(i: int) -> None:
            port = self.ports[i % len(self.ports)]
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
            ok = limited = errors = 0
            worst = 0.0
            took: list[float] = []
            try:
                while time.perf_counter() < end:
                    t0 = time.perf_counter()
                    try:
                        conn.request("POST", "/v1/outbound", self.body, self.headers)
                        response = conn.getresponse()
                        response.read()
                        status = response.status
                    except OSError:
                        conn.close()
                        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
                        errors += 1
                        continue
                    dt = time.perf_counter() - t0
                    took.append(dt)
                    worst = max(worst, dt)
                    if status == 200:
                        ok += 1
                    elif status == 429:
                        limited += 1
                    else:
                        errors += 1
            finally:
                conn.close()
            with lock:
                result.ok += ok
                result.limited += limited
                result.errors += errors
                result.worst = max(result.worst, worst)
                result.latencies.extend(took)

        threads = [threading.Thread(target=worker, args=(i,)) for i in range(self.concurrency)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        result.seconds = time.perf_counter() - start
        return result
