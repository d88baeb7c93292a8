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

import contextlib
import http.client
import json
import logging
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

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


def test_a_head_over_the_limit_is_431(shim: tuple[int, str, Path]) -> None:
    """A head a little over the limit, sent whole: the shim reads it all, answers 431, closes."""
    port, _, log = shim
    sock = socket.create_connection(("127.0.0.1", port), timeout=10)
    sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * (HEAD_LIMIT + 8192))
    answer = _until_closed(sock)
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 431 "), answer[:200]
    assert b"application/problem+json" in head and b"connection: close" in head
    problem = json.loads(body)
    assert problem["type"].endswith("/request-head-too-large")
    assert str(HEAD_LIMIT) in problem["detail"]
    lines = [json.loads(line) for line in log.read_text().splitlines() if line.startswith("{")]
    assert any(line.get("event") == "request-head-too-large" for line in lines)


def test_a_huge_head_is_cut_off_and_the_worker_keeps_answering(shim: tuple[int, str, Path]) -> None:
    """The attack itself: an 80 MB header. The connection is closed long before (the answer
    may be lost to the reset of a connection closed with data still coming), and the worker
    answers others at once."""
    port, _, _ = shim
    answer, sent = _flood(port, b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: ", b"a" * 65536, 80)
    assert sent < 80 * 2**20
    assert answer == b"" or answer.startswith(b"HTTP/1.1 431 "), answer[:200]
    assert _healthz_seconds(port) < 1.0


def _flood(port: int, start: bytes, filler: bytes, megabytes: int) -> tuple[bytes, int]:
    """Send ``start``, then ``filler`` up to ``megabytes``; (what came back, bytes sent)."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=10)
    sock.sendall(start)
    sent = 0
    try:
        while sent < megabytes * 2**20:
            sock.sendall(filler)
            sent += len(filler)
    except (BrokenPipeError, ConnectionResetError):
        pass  # closed by the shim, as it should
    return _until_closed(sock), sent


def _until_closed(sock: socket.socket, seconds: float = 5.0) -> bytes:
    """Everything the shim sends until it closes the connection (or resets it, or
    ``seconds`` pass without a byte); the socket is closed afterwards."""
    answer = b""
    sock.settimeout(seconds)
    with contextlib.suppress(ConnectionResetError, TimeoutError):
        while chunk := sock.recv(65536):
            answer += chunk
    sock.close()
    return answer


@pytest.mark.parametrize(
    ("what", "start", "filler"),
    [
        # the body is complete (one byte), then trailer lines, read with the header callbacks
        ("many trailers", b"POST /healthz HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n"
         b"\r\n1\r\na\r\n0\r\n", b"x-t: a\r\n" * 8192),
        ("one long trailer", b"POST /healthz HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n"
         b"\r\n1\r\na\r\n0\r\nX-T: ", b"a" * 65536),
        ("a chunk extension", b"POST /healthz HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n"
         b"\r\n1;ext=", b"e" * 65536),
    ],
)  # fmt: skip
def test_trailers_and_chunk_extensions_count_as_head(
    shim: tuple[int, str, Path], what: str, start: bytes, filler: bytes
) -> None:
    """A chunked body's framing is bounded like the head: the first version counted the head
    alone, and 100 MB of trailers took a worker from 79 MB to 1.57 GB (red-team, fourth pass)."""
    port, _, _ = shim
    answer, sent = _flood(port, start, filler, 40)
    assert sent < 40 * 2**20, what  # the connection was closed long before 40 MB
    # 405 (POST /healthz) once the head was read, or 431, or nothing (a reset connection)
    assert answer[:13] in (b"", b"HTTP/1.1 405 ", b"HTTP/1.1 431 "), answer[:200]
    assert _healthz_seconds(port) < 1.0  # the worker was not stalled


def test_large_chunked_bodies_are_not_framing(shim: tuple[int, str, Path]) -> None:
    """A chunked body of several hundred KB is body, however it is cut into chunks."""
    port, key, _ = shim
    batch = json.dumps([RECORD] * 900).encode()
    chunks = b"".join(
        b"%x\r\n%s\r\n" % (len(batch[i : i + 4096]), batch[i : i + 4096])
        for i in range(0, len(batch), 4096)
    )
    sock = socket.create_connection(("127.0.0.1", port), timeout=30)
    sock.sendall(
        b"POST /v1/outbound HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n"
        b"Content-Type: application/json\r\nShim-Group: support\r\nX-API-Key: "
        + key.encode() + b"\r\nConnection: close\r\n\r\n" + chunks + b"0\r\n\r\n"
    )  # fmt: skip
    answer = _until_closed(sock, 30)
    assert answer.startswith(b"HTTP/1.1 200 "), answer[:300]


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


def _response(sock: socket.socket) -> bytes:
    """One whole response of the test app (its body is ``ok``)."""
    answer = b""
    while not answer.endswith(b"\r\n\r\nok"):
        chunk = sock.recv(1000)
        assert chunk, answer
        answer += chunk
    return answer


@contextlib.contextmanager
def _bounded_server(app: Any) -> Iterator[int]:
    """``app`` served by uvicorn with BoundedHead in a thread (its constants as the test set
    them), on a free port it yields; stopped afterwards."""
    import threading

    import uvicorn

    from shimgen.runtime.service import http_head

    port = free_port()
    config = uvicorn.Config(
        app, host="127.0.0.1", port=port, http=http_head.BoundedHead, log_config=None,
        lifespan="off", timeout_keep_alive=30,
    )  # fmt: skip
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 10
        while not server.started:
            assert time.monotonic() < deadline
            time.sleep(0.05)
        yield port
    finally:
        server.should_exit = True
        thread.join(timeout=10)


async def _ok(send: Any) -> None:
    """The test app's answer: 200 with the body ``ok``."""
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-length", b"2")]})  # fmt: skip
    await send({"type": "http.response.body", "body": b"ok"})


def test_a_head_that_trickles_in_is_closed_after_the_head_timeout(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Slowloris (red-team, fourth pass): a head sent a byte at a time, under the size bound,
    held its connection for as long as the client liked, and many of them every connection
    slot. Here the bound is 1 s (HEAD_SECONDS, 30 by default): the trickle gets 408 and is
    closed, while a connection that sends its request at once is served, and one idle
    between requests is left to uvicorn's keep-alive timeout."""
    from shimgen.runtime.service import http_head

    monkeypatch.setattr(http_head, "HEAD_SECONDS", 1.0)
    monkeypatch.setattr(http_head, "SWEEP_SECONDS", 0.2)

    async def app(scope: dict, receive: object, send: object) -> None:  # type: ignore[type-arg]
        if scope["type"] == "http":
            await _ok(send)

    with _bounded_server(app) as port:
        idle = socket.create_connection(("127.0.0.1", port), timeout=10)
        idle.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        assert _response(idle).startswith(b"HTTP/1.1 200 ")  # then it stays open, idle
        slow = socket.create_connection(("127.0.0.1", port), timeout=10)
        start = time.monotonic()
        answer = b""
        try:
            for byte in b"GET / HTTP/1.1\r\nHost: x\r\nX-Slow: " + b"s" * 40:
                slow.sendall(bytes([byte]))
                time.sleep(0.1)
        except (BrokenPipeError, ConnectionResetError):
            pass
        answer = _until_closed(slow, 3)
        took = time.monotonic() - start
        assert answer.startswith(b"HTTP/1.1 408 "), answer[:200]
        assert b"request-head-timeout" in answer
        assert took < 4.0, took  # 1 s bound, 0.2 s sweeps: not the minutes the trickle would take
        idle.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")  # the idle one was not swept
        assert _response(idle).startswith(b"HTTP/1.1 200 ")
        idle.close()


def test_a_body_that_trickles_in_is_closed_after_the_message_timeout(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Slowloris on the body (left open by the head bound): a request whose head arrives at
    once and whose body trickles in, under the size bound, held its connection and a request
    inside the app for as long as the client liked. Here the bound on the whole request is
    1.5 s (MESSAGE_SECONDS, 60 by default): the trickle gets 408 and is closed, and the app
    sees the client leave; a body that arrives slowly but within the bound is served, and
    so is one sent at once."""
    from shimgen.runtime.service import http_head

    monkeypatch.setattr(http_head, "HEAD_SECONDS", 1.0)
    monkeypatch.setattr(http_head, "MESSAGE_SECONDS", 1.5)
    monkeypatch.setattr(http_head, "SWEEP_SECONDS", 0.2)
    seen: list[str] = []  # what the app got at the end of each request's body

    async def app(scope: dict, receive: Any, send: Any) -> None:  # type: ignore[type-arg]
        if scope["type"] != "http":
            return
        body = b""
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                seen.append("disconnect")
                return
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        seen.append(f"body {len(body)}")
        await _ok(send)

    head = b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n"
    with _bounded_server(app) as port:
        slow = socket.create_connection(("127.0.0.1", port), timeout=10)
        slow.sendall(head % 100)
        start = time.monotonic()
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            for _ in range(100):  # 100 bytes at 10 a second: 10 s, far over the bound
                slow.sendall(b"b")
                time.sleep(0.1)
                if time.monotonic() - start > 4:
                    break
        answer = _until_closed(slow, 3)
        took = time.monotonic() - start
        assert answer.startswith(b"HTTP/1.1 408 "), answer[:200]
        assert b"request-body-timeout" in answer
        assert took < 4.0, took  # 1.5 s bound, 0.2 s sweeps
        assert seen == ["disconnect"]  # the app's request ended: the client left
        # slow but in time: 5 bytes over half a second
        patient = socket.create_connection(("127.0.0.1", port), timeout=10)
        patient.sendall(head % 5)
        for byte in b"abcde":
            time.sleep(0.1)
            patient.sendall(bytes([byte]))
        assert _response(patient).startswith(b"HTTP/1.1 200 ")
        patient.sendall(head % 3 + b"xyz")  # the same connection, a body sent at once
        assert _response(patient).startswith(b"HTTP/1.1 200 ")
        patient.close()
        assert seen == ["disconnect", "body 5", "body 3"]


def _short_bounds(monkeypatch: pytest.MonkeyPatch) -> None:
    from shimgen.runtime.service import http_head

    monkeypatch.setattr(http_head, "HEAD_SECONDS", 1.0)
    monkeypatch.setattr(http_head, "MESSAGE_SECONDS", 1.5)
    monkeypatch.setattr(http_head, "SWEEP_SECONDS", 0.2)


def _trickle(sock: socket.socket, seconds: float) -> bytes:
    """A byte every 0.1 s for up to ``seconds``; then what the server sent until it closed."""
    start = time.monotonic()
    with contextlib.suppress(BrokenPipeError, ConnectionResetError):
        while time.monotonic() - start < seconds:
            sock.sendall(b"b")
            time.sleep(0.1)
    return _until_closed(sock, 3)


def test_a_body_trickled_behind_a_pipelined_request_is_closed_after_the_message_timeout(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The body bound, evaded (red-team, fifth pass): the sweeper took a connection whose count
    of framing bytes was 0 for one between requests. A read that completes one request and holds
    the next one's whole head leaves that count at 0, and every read of a Content-Length body
    after it adds and takes off the same bytes: a GET /healthz and an authenticated POST's head
    sent together, then its body a byte every 2 s, held the POST in the app 130 s and counting
    (bound 60 s), where the same POST alone got its 408 at 60 s. The request's phase now comes
    from the parser's events."""
    _short_bounds(monkeypatch)
    seen: list[str] = []

    async def app(scope: dict, receive: Any, send: Any) -> None:  # type: ignore[type-arg]
        if scope["type"] != "http":
            return
        while scope["method"] == "POST":
            message = await receive()
            if message["type"] == "http.disconnect":
                seen.append("disconnect")
                return
            if not message.get("more_body"):
                break
        seen.append(scope["method"])
        await _ok(send)

    with _bounded_server(app) as port:
        sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        sock.sendall(
            b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"
            b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n"
        )  # one read: the first request whole, the second's head and nothing more
        assert _response(sock).startswith(b"HTTP/1.1 200 ")  # the GET's answer
        start = time.monotonic()
        answer = _trickle(sock, 6)
        took = time.monotonic() - start
    assert answer.startswith(b"HTTP/1.1 408 "), answer[:200]
    assert b"request-body-timeout" in answer
    assert took < 4.0, took  # 1.5 s bound, 0.2 s sweeps: not the 6 s of the trickle
    assert seen == ["GET", "disconnect"]


def test_a_connection_that_sends_nothing_is_closed_after_the_head_timeout(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """uvicorn arms no timeout before a connection's first request, and the head bound ran from
    a head's first byte: connections that sent nothing were held for good (red-team, fifth
    pass: 19,978 of them, from one host, took every file descriptor of a one-worker shim, whose
    /healthz then failed and whose audit checkpoint could not be written, so ``audit verify``
    said TAMPERED). A connection's first head is now timed from the connection."""
    _short_bounds(monkeypatch)

    async def app(scope: dict, receive: Any, send: Any) -> None:  # type: ignore[type-arg]
        raise AssertionError("no request was sent")

    with _bounded_server(app) as port:
        silent = socket.create_connection(("127.0.0.1", port), timeout=10)
        start = time.monotonic()
        answer = _until_closed(silent, 4)
        took = time.monotonic() - start
    assert answer.startswith(b"HTTP/1.1 408 "), answer[:200]
    assert b"request-head-timeout" in answer
    assert took < 3.0, took  # 1 s bound, 0.2 s sweeps


def test_a_request_answered_before_its_body_gets_no_second_answer(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A request answered before its body came (the gate's 413 by Content-Length, a 401), whose
    body then kept coming, was taken for a head once answered: after HEAD_SECONDS the sweeper
    wrote a 408 request-head-timeout behind the 413, an answer to no request (red-team, fifth
    pass). It is now closed at MESSAGE_SECONDS with nothing more sent."""
    _short_bounds(monkeypatch)

    async def app(scope: dict, receive: Any, send: Any) -> None:  # type: ignore[type-arg]
        if scope["type"] != "http":
            return
        start = {
            "type": "http.response.start",
            "status": 413,
            "headers": [(b"content-length", b"2")],
        }
        await send(start)
        await send({"type": "http.response.body", "body": b"no"})

    with _bounded_server(app) as port:
        sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        sock.sendall(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 100000000\r\n\r\n")
        start = time.monotonic()
        answer = _trickle(sock, 6)
        took = time.monotonic() - start
    assert answer.startswith(b"HTTP/1.1 413 "), answer[:200]
    assert answer.count(b"HTTP/1.1 ") == 1, answer
    assert took < 4.0, took  # closed at the 1.5 s message bound, not held by the trickle


def test_silent_connections_closed_in_one_sweep_log_one_line(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """Each connection the sweeper closed wrote a WARNING line of its own, so a flood of silent
    connections set the log's volume (red-team, fifth pass: 2,000 lines for 2,000). A sweep
    now writes one line per kind, with the number of connections it closed."""
    _short_bounds(monkeypatch)

    async def app(scope: dict, receive: Any, send: Any) -> None:  # type: ignore[type-arg]
        raise AssertionError("no request was sent")

    caplog.set_level(logging.WARNING, logger="shim")
    with _bounded_server(app) as port:
        silent = [socket.create_connection(("127.0.0.1", port), timeout=10) for _ in range(20)]
        answers = [_until_closed(sock, 4) for sock in silent]
    assert all(answer.startswith(b"HTTP/1.1 408 ") for answer in answers)
    lines = [r for r in caplog.records if getattr(r, "event", None) == "request-head-timeout"]
    assert sum(r.connections for r in lines) == 20  # type: ignore[attr-defined]
    assert len(lines) <= 2, [r.getMessage() for r in lines]  # one sweep, or two at most
