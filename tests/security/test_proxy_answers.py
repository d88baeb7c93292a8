"""Attack class: a proxy answer that costs the worker more than any translation request may.

A partner forwarded its own ``?limit=50000`` on a list route and got 50,000
translated records in one request, although ``POST /v1/outbound`` refuses a
batch over ``SHIM_MAX_BATCH``; the whole answer was parsed, checked and
translated on the event loop (1.3 s), stalling every other request of the
worker. No proxy answer crosses with more records than ``SHIM_MAX_BATCH``
(502 ``upstream-too-many-records``, audited), and an answer of more than
:data:`~shimgen.runtime.service.proxy.INLINE_BYTES` is handled in a worker
thread. See docs/threat-model.md, "Proxy answers are bounded".
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.testclient import TestClient

from shimgen.runtime.service import app as service
from shimgen.runtime.service import proxy
from shimgen.runtime.service.app import build_app
from shimgen.runtime.service.settings import Settings
from tests.service_support import KEYS_FILE, RECORD, headers, make_spec, write_callers
from tests.test_service_runtime import assert_problem, audit_events

MAX_BATCH = 200


class Listing:
    """The internal API's list endpoint: as many records as ``limit`` asks for."""

    def __init__(self) -> None:
        self.threads: list[int] = []  # the event loop's thread, as the upstream saw it
        self.sizes: list[int] = []  # bytes of each answer
        self.app = Starlette(routes=[Route("/internal/customers", self.listing)])

    async def listing(self, request: Request) -> Response:
        self.threads.append(threading.get_ident())
        count = int(request.query_params.get("limit", "1"))
        answer = JSONResponse([{**RECORD, "risk_score": i / 1000} for i in range(count)])
        self.sizes.append(len(answer.body))
        return answer


@pytest.fixture
def listing() -> Listing:
    return Listing()


@pytest.fixture
def shim(
    tmp_path: Path, listing: Listing, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[TestClient, Settings, list[int]]]:
    """The customer shim (``SHIM_MAX_BATCH`` 200) in front of :class:`Listing`; the list
    it yields holds the thread of every ``to_external`` call."""
    monkeypatch.setenv("SHIM_KEYS_FILE", str(KEYS_FILE))
    transport = httpx.ASGITransport(app=listing.app)
    monkeypatch.setattr(
        service, "Upstream", lambda url, timeout: proxy.Upstream(url, timeout, transport=transport)
    )
    spec = make_spec()
    translated: list[int] = []

    def to_external(record: dict[str, Any], group: str | None) -> dict[str, Any]:
        translated.append(threading.get_ident())
        return spec.to_external(record, group)

    settings = Settings(
        callers_file=str(write_callers(tmp_path / "callers.yaml")),
        audit_url=f"jsonl:///{tmp_path / 'audit.jsonl'}",
        instance="test",
        upstream_url="http://upstream.test",
        max_batch=MAX_BATCH,
    )
    app = build_app(make_spec(to_external=to_external), settings)
    with TestClient(app, raise_server_exceptions=False) as client:
        yield client, settings, translated


def test_proxy_answer_over_max_batch_is_502_and_audited(
    shim: tuple[TestClient, Settings, list[int]],
) -> None:
    client, settings, translated = shim
    response = client.get(f"/customers?limit={MAX_BATCH + 1}", headers=headers(group="billing"))
    body = assert_problem(response, 502)
    assert body["type"].endswith("/upstream-too-many-records")
    assert f"more than {MAX_BATCH} records" in body["detail"]
    assert "page" in body["detail"] and "SHIM_MAX_BATCH" in body["detail"]
    assert RECORD["email"] not in response.text
    assert translated == []  # refused before any record was translated
    [event] = audit_events(settings)
    assert (event["outcome"], event["upstream_status"], event["records"]) == (502, 200, 0)


def test_proxy_answer_of_max_batch_records_crosses(
    shim: tuple[TestClient, Settings, list[int]],
) -> None:
    client, settings, _ = shim
    response = client.get(f"/customers?limit={MAX_BATCH}", headers=headers(group="billing"))
    assert response.status_code == 200, response.text
    assert len(response.json()) == MAX_BATCH
    [event] = audit_events(settings)
    assert (event["outcome"], event["records"]) == (200, MAX_BATCH)


def test_large_proxy_answer_is_translated_off_the_event_loop(
    shim: tuple[TestClient, Settings, list[int]], listing: Listing
) -> None:
    client, _, translated = shim
    response = client.get(f"/customers?limit={MAX_BATCH}", headers=headers(group="billing"))
    assert response.status_code == 200
    assert listing.sizes[0] > proxy.INLINE_BYTES  # large enough to leave the loop
    [loop] = listing.threads
    assert translated and loop not in translated


def test_small_proxy_answer_is_translated_on_the_event_loop(
    shim: tuple[TestClient, Settings, list[int]], listing: Listing
) -> None:
    client, _, translated = shim
    response = client.get("/customers?limit=2", headers=headers(group="billing"))
    assert response.status_code == 200
    [loop] = listing.threads
    assert listing.sizes[0] <= proxy.INLINE_BYTES
    assert translated == [loop, loop]  # a thread hop costs more than two records


def test_many_large_answers_at_once_leave_threads_for_readiness_and_grants(
    tmp_path: Path, listing: Listing, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Large answers are translated in a pool of their own (``upstream.ANSWER_THREADS``).

    The attack: ask for more large answers at once than anyio's default pool has
    threads (40). Each held a thread while it was translated, so a grant check or a
    blocking readiness check (PostgreSQL, or here JSON lines with fsync) waited for
    them all: every elevated request stalled, and ``/readyz`` failed its probe's
    deadline, taking the pod out of service. Here 45 translations are held at once;
    ``/readyz`` must still answer while they are.
    """
    monkeypatch.setenv("SHIM_KEYS_FILE", str(KEYS_FILE))
    transport = httpx.ASGITransport(app=listing.app)
    monkeypatch.setattr(
        service, "Upstream", lambda url, timeout: proxy.Upstream(url, timeout, transport=transport)
    )
    spec = make_spec()
    release = threading.Event()
    held = threading.Semaphore(0)

    def to_external(record: dict[str, Any], group: str | None) -> dict[str, Any]:
        if record.get("risk_score") == 0:  # an answer's first record: held until released
            held.release()
            release.wait(30)
        return spec.to_external(record, group)

    settings = Settings(
        callers_file=str(write_callers(tmp_path / "callers.yaml")),
        audit_url=f"jsonl:///{tmp_path / 'audit.jsonl'}?fsync=1",  # a blocking sink
        instance="test",
        upstream_url="http://upstream.test",
        max_batch=MAX_BATCH,
    )
    app = build_app(make_spec(to_external=to_external), settings)
    with TestClient(app, raise_server_exceptions=False) as client:
        statuses: list[int] = []

        def large() -> None:
            answer = client.get(f"/customers?limit={MAX_BATCH}", headers=headers(group="billing"))
            statuses.append(answer.status_code)

        callers = [threading.Thread(target=large) for _ in range(45)]
        ready: list[int] = []
        probe = threading.Thread(target=lambda: ready.append(client.get("/readyz").status_code))
        try:
            for caller in callers:
                caller.start()
            for _ in range(proxy.ANSWER_THREADS):  # the answers' pool is full
                assert held.acquire(timeout=10)
            held.acquire(timeout=1)  # (the default pool would take up to 40 here)
            probe.start()
            probe.join(timeout=5)
            assert ready == [200], "readiness waited for the answers' translations"
        finally:
            release.set()
            for caller in callers:
                caller.join(timeout=30)
            probe.join(timeout=30)
        assert statuses == [200] * 45  # every answer crossed in the end
    assert listing.sizes[0] > proxy.INLINE_BYTES  # each large enough to leave the loop
