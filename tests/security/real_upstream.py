"""A real internal API for the proxy attack tests (not a test module).

The upstream is a Starlette app served by uvicorn on a loopback port in a
thread, and the shim reaches it through its own httpx client over TCP: the
cookie jar, the headers on the wire and the ``Content-Encoding`` handling are
the real ones, not an in-process transport's. What the upstream answers is
chosen by the internal customer id in the path (:data:`ANSWERS`); every request
it receives is kept in :attr:`InternalAPI.seen` with its raw headers.
"""

from __future__ import annotations

import asyncio
import gzip
import json
import socket
import threading
import time
import zlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.testclient import TestClient

from shimgen.runtime.service.app import build_app
from shimgen.runtime.service.settings import Settings
from tests.service_support import KEYS_FILE, RECORD, make_spec, write_callers

# Internal ids (uuids, as the internal schema wants) that pick the upstream's answer.
PLAIN = RECORD["id"]
OTHER = "a9d1b7c4-2e3f-4b8a-8c6d-5f0e1a2b3c44"  # a second, real customer
GZIP = "11111111-1111-4111-8111-111111111111"
DEFLATE = "22222222-2222-4222-8222-222222222222"
RAW_DEFLATE = "33333333-3333-4333-8333-333333333333"
BOMB = "44444444-4444-4444-8444-444444444444"
BROTLI = "55555555-5555-4555-8555-555555555555"
CORRUPT = "66666666-6666-4666-8666-666666666666"
WRONG_OBJECT = "77777777-7777-4777-8777-777777777777"
MISSING = "88888888-8888-4888-8888-888888888888"
BROKEN = "99999999-9999-4999-8999-999999999999"
SLOW = "aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa"
MANY_MEMBERS = "bbbbbbbb-bbbb-4bbb-8bbb-bbbbbbbbbbbb"
TWO_MEMBERS = "cccccccc-cccc-4ccc-8ccc-cccccccccccc"
EMPTY_GZIP = "dddddddd-dddd-4ddd-8ddd-dddddddddddd"
TWO_IDS = "eeeeeeee-eeee-4eee-8eee-eeeeeeeeeeee"
NO_CONTENT = "ffffffff-ffff-4fff-8fff-ffffffffffff"  # a write answered 204, nothing back

MAX_BODY = 65_536  # SHIM_MAX_BODY_BYTES in these tests: upstream answers may be 16 times that
BOMB_SIZE = 64 * MAX_BODY  # decoded bytes of the bomb: 4 MiB of JSON whitespace, ~4 KiB on the wire


def _record(cid: str) -> bytes:
    return json.dumps({**RECORD, "id": cid}).encode()


def _encoded(body: bytes, coding: str) -> Callable[[], Response]:
    return lambda: Response(
        body, media_type="application/json", headers={"content-encoding": coding}
    )


_BOMB = gzip.compress(b" " * BOMB_SIZE + b"{}", compresslevel=9)
_EMPTY_MEMBER = gzip.compress(b"", mtime=0)  # 20 bytes that decode to nothing
_TWO = _record(TWO_MEMBERS)
_deflater = zlib.compressobj(wbits=-zlib.MAX_WBITS)
_RAW_DEFLATE = _deflater.compress(_record(RAW_DEFLATE)) + _deflater.flush()

ANSWERS: dict[str, Callable[[], Response]] = {
    GZIP: _encoded(gzip.compress(_record(GZIP)), "gzip"),
    DEFLATE: _encoded(zlib.compress(_record(DEFLATE)), "deflate"),
    RAW_DEFLATE: _encoded(_RAW_DEFLATE, "deflate"),
    BOMB: _encoded(_BOMB, "gzip"),
    BROTLI: _encoded(_record(BROTLI), "br"),
    CORRUPT: _encoded(gzip.compress(_record(CORRUPT))[:-12], "gzip"),
    MANY_MEMBERS: _encoded(_EMPTY_MEMBER * 40_000 + gzip.compress(b"{}"), "gzip"),  # 800 KB
    TWO_MEMBERS: _encoded(gzip.compress(_TWO[:10]) + gzip.compress(_TWO[10:]), "gzip"),
    EMPTY_GZIP: _encoded(_EMPTY_MEMBER, "gzip"),
    # Another customer's record, then the asked-for id again: orjson keeps the last "id".
    TWO_IDS: lambda: Response(
        _record(OTHER)[:-1] + f', "id": "{TWO_IDS}"}}'.encode(), media_type="application/json"
    ),
    WRONG_OBJECT: lambda: JSONResponse({**RECORD, "id": OTHER}),  # an answer about another customer
    MISSING: lambda: JSONResponse({"error": "no such customer"}, 404),
    BROKEN: lambda: JSONResponse({"error": "database down"}, 500),
    NO_CONTENT: lambda: Response(status_code=204),
}


class InternalAPI:
    """The upstream app; it sets a session cookie on every answer, as many frameworks do."""

    def __init__(self) -> None:
        self.seen: list[dict[str, Any]] = []
        self.app = Starlette(
            routes=[
                Route("/internal/customers/{id}", self.one, methods=["GET", "PATCH"]),
                Route("/", self.root, methods=["HEAD", "GET"]),
            ]
        )

    async def root(self, request: Request) -> Response:
        return Response(status_code=204)

    async def one(self, request: Request) -> Response:
        cid = request.path_params["id"]
        body = await request.body()
        self.seen.append(
            {
                "method": request.method,
                "id": cid,
                "headers": [(k.decode("latin-1"), v.decode("latin-1"))
                            for k, v in request.scope["headers"]],
                "body": json.loads(body) if body else None,
            }
        )  # fmt: skip
        if cid == SLOW:
            await asyncio.sleep(1.5)
        if cid in (PLAIN, OTHER):
            record = {**RECORD, "id": cid}
            if request.method == "PATCH":
                record.update({k: v for k, v in json.loads(body).items() if k != "id"})
            response: Response = JSONResponse(record)
        else:
            response = ANSWERS.get(cid, lambda: Response(status_code=418))()
        response.set_cookie("sess", f"session-of-{cid}", httponly=True)
        return response

    def header_names(self, index: int = -1) -> set[str]:
        return {name for name, _ in self.seen[index]["headers"]}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@pytest.fixture(scope="module")
def internal_api() -> Iterator[tuple[InternalAPI, str]]:
    """The upstream served by uvicorn on loopback; yields it and its base URL."""
    api = InternalAPI()
    port = _free_port()
    config = uvicorn.Config(
        api.app, host="127.0.0.1", port=port, log_level="warning", lifespan="off",
        timeout_graceful_shutdown=1,
    )  # fmt: skip
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline:
            raise RuntimeError("the test upstream did not start")
        time.sleep(0.01)
    try:
        yield api, f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=5)


@pytest.fixture
def shim(
    internal_api: tuple[InternalAPI, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[TestClient, InternalAPI, Settings]]:
    """The customer shim with its proxy routes, forwarding to :func:`internal_api` over TCP."""
    api, base_url = internal_api
    api.seen.clear()
    monkeypatch.setenv("SHIM_KEYS_FILE", str(KEYS_FILE))
    settings = Settings(
        callers_file=str(write_callers(tmp_path / "callers.yaml")),
        audit_url=f"jsonl:///{tmp_path / 'audit.jsonl'}",
        instance="test",
        upstream_url=base_url,
        upstream_timeout=0.5,
        max_body_bytes=MAX_BODY,
    )
    with TestClient(build_app(make_spec(), settings), raise_server_exceptions=False) as client:
        yield client, api, settings
