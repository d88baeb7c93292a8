"""One request with a huge header stalls a worker, before anything can see it.

The attack (red-team, third pass): uvicorn's httptools protocol set no limit on
a request's head, and building a long header value costs time in proportion to
the square of its length, on the event loop. One unauthenticated request with
an 80 MB header kept a worker from answering anything for about 4 s; no
credentials, so neither the failed-authentication limit nor the audit trail saw
it. The control (runtime/service/http_head.py): ``serve`` runs uvicorn with a
protocol that answers 431 once a head passes ``HEAD_LIMIT`` (64 KiB) and closes
the connection. Bodies keep their own bound, and a large body on a keep-alive
connection is never taken for a head.

The cases start the real golden customer shim (``python -m customer_shim
serve``), one worker, so a stalled loop would show on the next request.
"""

from __future__ import annotations

import http.client
import json
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from shimgen.runtime.service.http_head import HEAD_LIMIT
from tests.serve_support import free_port, serve, serve_env, stop, wait_healthy
from tests.serve_support import write_rate_callers as callers_file
from tests.service_support import RECORD


@pytest.fixture
def shim(tmp_path: Path) -> Iterator[tuple[int, str, Path]]:
    callers, key = callers_file(tmp_path / "callers.yaml", per_second=1000, burst=1000)
    port, log = free_port(), tmp_path / "serve.log"
    proc = serve(serve_env(tmp_path, callers, "head"), 1, tmp_path, port, log)
    try:
        wait_healthy(proc, port, log)
        yield port, key, log
    finally:
        stop(proc)


def _healthz_seconds(port: int) -> float:
    start = time.monotonic()
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    conn.request("GET", "/healthz")
    assert conn.getresponse().status == 200
    conn.close()
    return time.monotonic() - start


def test_a_head_over_the_limit_is_431_and_the_worker_keeps_answering(
    shim: tuple[int, str, Path],
) -> None:
    port, _, log = shim
    sock = socket.create_connection(("127.0.0.1", port), timeout=10)
    sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: ")
    answer = b""
    sent = 0
    try:
        for _ in range(16 * 80):  # up to 80 MB, as in the attack; the shim stops it far sooner
            sock.sendall(b"a" * 65536)
            sent += 65536
    except (BrokenPipeError, ConnectionResetError):
        pass  # closed by the shim, as it should
    sock.settimeout(5)
    try:
        while chunk := sock.recv(65536):
            answer += chunk
    except (ConnectionResetError, TimeoutError):
        pass
    sock.close()
    assert sent < 16 * 80 * 65536  # the connection was closed long before 80 MB
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 431 "), answer[:200]
    assert b"application/problem+json" in head
    problem = json.loads(body)
    assert problem["type"].endswith("/request-head-too-large")
    assert str(HEAD_LIMIT) in problem["detail"]
    assert _healthz_seconds(port) < 1.0  # the worker was not stalled
    lines = [json.loads(line) for line in log.read_text().splitlines() if line.startswith("{")]
    assert any(line.get("event") == "request-head-too-large" for line in lines)


def test_a_head_just_under_the_limit_is_served(shim: tuple[int, str, Path]) -> None:
    port, _, _ = shim
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    conn.request("GET", "/healthz", headers={"X-Padding": "p" * (HEAD_LIMIT - 1024)})
    assert conn.getresponse().status == 200


def test_large_bodies_on_one_keep_alive_connection_are_not_heads(
    shim: tuple[int, str, Path],
) -> None:
    """Bodies of several hundred KB, one after the other on one connection, in large reads."""
    port, key, _ = shim
    batch = json.dumps([RECORD] * 900).encode()
    assert len(batch) > 4 * HEAD_LIMIT
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    for _ in range(3):
        conn.request(
            "POST", "/v1/outbound", body=batch,
            headers={"X-API-Key": key, "Shim-Group": "support", "Content-Type": "application/json"},
        )  # fmt: skip
        answer = conn.getresponse()
        assert answer.status == 200, answer.read()[:300]
        assert len(json.loads(answer.read())) == 900
    conn.close()


def test_every_line_the_service_writes_is_json(shim: tuple[int, str, Path]) -> None:
    """uvicorn's own lines (started, listening) go through the shim's JSON formatter too."""
    _, _, log = shim
    lines = [line for line in log.read_text().splitlines() if line.strip()]
    assert lines
    for line in lines:
        assert json.loads(line)["level"], line
    assert any(json.loads(line)["logger"].startswith("uvicorn") for line in lines)
