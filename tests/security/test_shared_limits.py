"""A caller multiplies its limit by workers and replicas.

The attack: a caller limited to 50 requests/s opens many connections. Each
uvicorn worker of each replica kept its own token bucket, so the caller got
50/s from every process: 2 replicas x 2 workers = 200/s. The control is
``SHIM_SHARED_STORE_URL``: every process checks one bucket per caller in Redis
with one atomic script (runtime/service/shared.py).

The case runs two real replicas (``python -m customer_shim serve --workers 2``
of the golden package) against one Redis server (``SHIM_TEST_REDIS_URL``),
drives them for 10 s from 8 connections, and holds the accepted requests to
50/s x the time + the burst, within 10 %. The store's timeout is 0.5 s here:
this case measures the shared limit, not the fallback (a worker whose event
loop is slowed by a busy machine would otherwise time out and decide locally,
which ``tests/test_shared_store.py`` covers).
"""

from __future__ import annotations

import json
from pathlib import Path

from tests.serve_support import Load, free_port, serve, serve_env, stop, wait_healthy
from tests.serve_support import write_rate_callers as callers_file

RATE = 50.0
BURST = 10
SECONDS = 10.0


def test_a_caller_cannot_multiply_its_limit_by_workers_and_replicas(
    redis_url: str, tmp_path: Path
) -> None:
    callers, key = callers_file(tmp_path / "callers.yaml", per_second=RATE, burst=BURST)
    ports = [free_port(), free_port()]
    procs = []
    try:
        for i, port in enumerate(ports):
            env = serve_env(tmp_path, callers, f"replica-{i}")
            env["SHIM_SHARED_STORE_URL"] = redis_url
            env["SHIM_SHARED_STORE_TIMEOUT"] = "0.5"
            log = tmp_path / f"replica-{i}.log"
            procs.append((serve(env, 2, tmp_path, port, log), port, log))
        for proc, port, log in procs:
            wait_healthy(proc, port, log)
        result = Load(ports, key, concurrency=8).run(SECONDS)
    finally:
        for proc, _, _ in procs:
            stop(proc)
    allowed = RATE * result.seconds + BURST
    events = [
        json.loads(line).get("event")
        for _, _, log in procs
        for line in log.read_text().splitlines()
        if line[:1] == "{"
    ]
    summary = {
        **result.summary(),
        "limit_per_s": RATE,
        "allowed": round(allowed),
        "store_down": events.count("shared-store-down"),
    }
    print("\nshared limit, 2 replicas x 2 workers:", json.dumps(summary))
    assert result.errors == 0, summary
    assert summary["store_down"] == 0, summary  # every check was made in Redis
    assert result.limited > result.ok, summary  # the load was well over the limit
    assert abs(result.ok - allowed) <= 0.1 * allowed, summary  # not 4x: one bucket for all
