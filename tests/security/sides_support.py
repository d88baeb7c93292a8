"""Set-up shared by the caller-sides and strict-input attack modules (not a test module).

A real app (the golden customer translator behind the service runtime), a real
callers file, a JSON-lines audit trail, and a real internal API served by
uvicorn on loopback (the scripted ``FakeUpstream`` of the proxy tests), so an
attack travels the same path as in production; nothing under test is mocked.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import orjson
import uvicorn
from starlette.testclient import TestClient

from shimgen.runtime.service.app import build_app
from shimgen.runtime.service.settings import Settings
from tests.service_support import make_spec
from tests.test_service_proxy import FakeUpstream


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def live_upstream() -> Iterator[tuple[FakeUpstream, str]]:
    """The scripted internal API on a loopback port; yields it and the shim's upstream URL."""
    fake = FakeUpstream()
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(fake.app, host="127.0.0.1", port=port, log_level="error")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline:
            raise RuntimeError("upstream test server did not start")
        time.sleep(0.01)
    try:
        yield fake, f"http://127.0.0.1:{port}/base"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def settings_for(tmp_path: Path, callers: Path, upstream_url: str | None = None) -> Settings:
    return Settings(
        callers_file=str(callers),
        audit_url=f"jsonl:///{tmp_path / 'audit.jsonl'}",
        instance="test",
        rate_limit=1000.0,
        rate_burst=1000,
        upstream_url=upstream_url,
        upstream_timeout=2.0,
    )


@contextmanager
def shim_client(settings: Settings, **client: Any) -> Iterator[TestClient]:
    with TestClient(build_app(make_spec(), settings), raise_server_exceptions=False, **client) as c:
        yield c


def audit_events(settings: Settings) -> list[dict[str, Any]]:
    path = Path(settings.audit_url.removeprefix("jsonl:///"))
    if not path.exists():
        return []
    return [orjson.loads(line) for line in path.read_bytes().splitlines()]
