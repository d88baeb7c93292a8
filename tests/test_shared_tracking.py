"""Tracking counts shared through Redis (``SHIM_SHARED_STORE_URL``, runtime/service/shared_tracking.py).

Against a real Redis server (``SHIM_TEST_REDIS_URL``, ``eval "$(.ci/redis.sh)"``),
two trackers stand for two workers, each with its own client: an enumeration
split between them, under the threshold in each, is detected once they have
pushed; an id both saw counts once; one incident-opened is written across two
real apps; and with the store killed the push falls back within the timeout,
the counts are local again, and they are global again once it is back.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

from shimgen.runtime.service.app import build_app
from shimgen.runtime.service.auth import RateLimiter
from shimgen.runtime.service.incidents import Change, Incident, TrackingConfig
from shimgen.runtime.service.metrics import Metrics
from shimgen.runtime.service.settings import Settings
from shimgen.runtime.service.shared import BACKOFF_FIRST, SharedLimiter
from shimgen.runtime.service.shared_tracking import SharedTracking, counts_key, ids_key
from shimgen.runtime.service.tracking import Tracker
from shimgen.runtime.service.tracking_hooks import write_incidents
from tests.service_support import KEY_HELPDESK, KEYS_FILE, RECORD, headers, make_spec, write_callers
from tests.test_service_runtime import audit_events
from tests.test_shared_store import _server_proc
from tests.test_shared_store import own_redis as _own_redis

own_redis = _own_redis  # the fixture: a Redis server of the test alone (it is killed)
LOOKUP = "GET /customers/{customerId}"
HOUR = 3600.0
TIMEOUT = 0.05


def _worker(url: str, service: str, metrics: Metrics | None = None) -> SharedTracking:
    """One worker: a tracker (no warm-up to wait for, hour windows) and its own store client."""
    tracker = Tracker(TrackingConfig(window=HOUR, warmup_seconds=0, warmup_requests=1))
    store = SharedLimiter.connect(url, RateLimiter(50, 100), service, TIMEOUT, metrics)
    return SharedTracking(store, tracker)


def _warm(sync: SharedTracking, caller: str, t0: float) -> None:
    """One request in the last window, one in this: the caller is warm (enumeration floor 30)."""
    sync.tracker.observe(caller, "support", LOOKUP, 1, 200, False, None, t0 - HOUR + 1)
    sync.tracker.observe(caller, "support", LOOKUP, 1, 200, False, None, t0 + 1)


@contextlib.asynccontextmanager
async def closed(*workers: SharedTracking) -> AsyncIterator[None]:
    """The workers' store clients closed at the end, whatever the test asserted."""
    try:
        yield
    finally:
        for w in workers:
            await w.store.aclose()


@contextlib.asynccontextmanager
async def warm_pair(
    url: str, caller: str, t0: float, metrics: Metrics | None = None
) -> AsyncIterator[tuple[SharedTracking, SharedTracking]]:
    """Two workers of service ``test`` on ``url`` (the first with ``metrics``), ``caller``
    warm on both."""
    a, b = _worker(url, "test", metrics), _worker(url, "test")
    async with closed(a, b):
        _warm(a, caller, t0)
        _warm(b, caller, t0)
        yield a, b


def _lookups(sync: SharedTracking, caller: str, ids: list[str], now: float) -> list[str]:
    kinds: list[str] = []
    for i in ids:
        changes: tuple[Change, ...] = sync.tracker.observe(
            caller, "support", LOOKUP, 1, 200, False, (i,), now
        )
        kinds += [c.incident.kind for c in changes if c.event == "incident-opened"]
    return kinds


def _t0() -> float:
    return time.time() // HOUR * HOUR


def test_an_enumeration_split_over_two_workers_is_detected(redis_url: str) -> None:
    caller = f"key:{uuid.uuid4().hex}"
    t0 = _t0()

    async def run() -> None:
        async with warm_pair(redis_url, caller, t0) as (a, b):
            now = t0 + 10
            assert _lookups(a, caller, [f"a{i}" for i in range(20)], now) == []
            assert _lookups(b, caller, [f"b{i}" for i in range(20)], now) == []  # 20 < 30 each
            assert await a.push(now) and await b.push(now) and await a.push(now)
            st_a, st_b = a.tracker.callers[caller], b.tracker.callers[caller]
            assert (st_a.o_ids, st_b.o_ids) == (20, 20)  # the other worker's share
            assert (st_a.o_req, st_b.o_req) == (21, 21)
            assert _lookups(b, caller, ["b20"], now) == ["enumeration"]  # 21 + 20 = 41 > 30
            evidence = b.tracker.open_incidents()[0].evidence
            assert evidence["observed"] == 41 and evidence["window_requests"] == 43

    asyncio.run(run())


def test_an_id_seen_by_both_workers_counts_once(redis_url: str) -> None:
    caller = f"key:{uuid.uuid4().hex}"
    t0 = _t0()

    async def run() -> None:
        async with warm_pair(redis_url, caller, t0) as (a, b):
            same = [f"x{i}" for i in range(25)]
            assert _lookups(a, caller, same, t0 + 10) == []
            assert _lookups(b, caller, same, t0 + 10) == []
            assert await a.push(t0 + 10) and await b.push(t0 + 10)
            assert b.tracker.callers[caller].o_ids == 0  # 25 distinct in all, not 50
            assert _lookups(b, caller, ["x0"], t0 + 11) == []
            assert b.tracker.open_incidents() == []
            import redis.asyncio as aioredis

            admin = aioredis.Redis.from_url(redis_url)
            try:  # the counts expire after two windows; no id is stored, only digests
                key = counts_key("test", int(t0 // HOUR), caller)
                assert 0 < await admin.pttl(key) <= 2 * HOUR * 1000
                # each worker's own counts, summed by the store: 2 to warm and 25 lookups each
                fields = await admin.hgetall(key)
                counts = {k.decode(): int(v) for k, v in fields.items()}
                assert sorted(counts.values()) == [26, 26]  # counts of 0 are not written
                assert {k.partition("|")[2] for k in counts} == {"req"}
            finally:
                await admin.aclose()

    asyncio.run(run())


# -- one incident-opened across two real apps -------------------------------------------------


@pytest.fixture(autouse=True)
def _keys_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SHIM_KEYS_FILE", str(KEYS_FILE))
    monkeypatch.delenv("SHIM_KEYS", raising=False)
    monkeypatch.delenv("PROMETHEUS_MULTIPROC_DIR", raising=False)


@pytest.fixture
def two_apps(tmp_path: Path, redis_url: str) -> Iterator[list[tuple[TestClient, Settings]]]:
    """Two apps ("workers") of one service, one Redis, each its own audit file."""
    yield from _two_apps(tmp_path, redis_url, {})


def _two_apps(
    tmp_path: Path, redis_url: str, tracking: dict[str, str], rate: float = 1000.0
) -> Iterator[list[tuple[TestClient, Settings]]]:
    spec = make_spec(name=f"t{uuid.uuid4().hex[:12]}", tracking=tracking)  # its own keys
    base = Settings(
        callers_file=str(write_callers(tmp_path / "callers.yaml")),
        audit_url=f"jsonl:///{tmp_path / 'audit0.jsonl'}",
        instance="test",
        rate_limit=rate,
        rate_burst=int(rate),
        shared_store_url=redis_url,
        tracking_window=3600.0,
    )
    apps = []
    for n in range(2):
        settings = replace(base, audit_url=f"jsonl:///{tmp_path / f'audit{n}.jsonl'}")
        client = TestClient(build_app(spec, settings), raise_server_exceptions=False)
        client.__enter__()
        apps.append((client, settings))
    yield apps
    for client, _ in apps:
        client.__exit__(None, None, None)


def _probe(client: TestClient, times: int) -> None:
    """helpdesk (support only) names billing: a 403 each time, audited and observed."""
    for _ in range(times):
        response = client.post(
            "/v1/outbound", json=RECORD, headers=headers(KEY_HELPDESK, "billing")
        )
        assert response.status_code == 403


def _clear_of_a_window_edge(window: float, margin: float = 15.0) -> None:
    """With a store, windows sit on fixed boundaries: a test crossing one splits its counts."""
    left = window - time.time() % window
    if left < margin:
        time.sleep(left + 0.5)


def test_two_workers_write_one_incident_opened(two_apps: list[tuple[TestClient, Settings]]) -> None:
    _clear_of_a_window_edge(3600.0)
    (a, sa), (b, sb) = two_apps
    _probe(a, 6)
    _probe(b, 6)  # probing floor 10: neither worker alone gets there
    time.sleep(2.5)  # each worker's task pushes (every second) and reads the sum back
    assert [
        e for s in (sa, sb) for e in audit_events(s) if e.get("event") == "incident-opened"
    ] == []
    _probe(a, 1)
    _probe(b, 1)
    opened = [e for s in (sa, sb) for e in audit_events(s) if e.get("event") == "incident-opened"]
    assert [e["kind"] for e in opened] == ["probing"], opened
    assert opened[0]["evidence"]["observed"] >= 10
    later = time.time() + 3601  # past the quiet window: each worker closes its incident
    for client in (a, b):  # both apply the effect (log here): the incident is open in each
        shim = client.app.state.shim  # type: ignore[attr-defined]
        assert [i.kind for i in shim.tracker.open_incidents()] == ["probing"]
        closed = tuple(shim.tracker.sweep(later))
        assert [c.event for c in closed] == ["incident-closed"]
        assert client.portal is not None
        client.portal.call(write_incidents, shim, closed)
    events = [
        (n, e["event"], e["incident"])
        for n, s in enumerate((sa, sb))
        for e in audit_events(s)
        if e.get("event", "").startswith("incident-")
    ]
    assert len(events) == 2 and events[0][0] == events[1][0]  # both by the claiming worker
    assert events[0][1:] == ("incident-opened", opened[0]["incident"])
    assert events[1][1:] == ("incident-closed", opened[0]["incident"])


def test_a_caller_denied_on_one_worker_is_refused_by_the_other(
    tmp_path: Path, redis_url: str
) -> None:
    """The service wiring of the case above: worker b saw no probe, and still refuses."""
    _clear_of_a_window_edge(3600.0)
    apps = _two_apps(tmp_path, redis_url, {"probing": "deny"})
    (a, _), (b, _) = next(apps)
    try:
        _probe(a, 12)  # the probing floor is 10: a opens a deny incident
        ok = headers(KEY_HELPDESK, "support")
        assert a.post("/v1/outbound", json=RECORD, headers=ok).status_code == 403
        time.sleep(2.5)  # each worker's task shares its effects every second
        refused = b.post("/v1/outbound", json=RECORD, headers=ok)
        assert refused.status_code == 403, refused.text
        assert refused.json()["type"].endswith("/tracking-denied")
    finally:
        next(apps, None)


def test_a_throttle_is_one_bucket_over_every_worker(tmp_path: Path, redis_url: str) -> None:
    """A throttled caller gets a tenth of its rate in all, not a tenth per worker."""
    _clear_of_a_window_edge(3600.0)
    apps = _two_apps(tmp_path, redis_url, {"probing": "throttle"}, rate=20.0)
    (a, _), (b, _) = next(apps)
    try:
        _probe(a, 12)  # a opens a throttle incident: 2/s, a burst of 2 (20/s, 20 normally)
        time.sleep(2.5)  # shared with b; the buckets refill
        ok = headers(KEY_HELPDESK, "support")
        codes = [w.post("/v1/outbound", json=RECORD, headers=ok).status_code for w in (a, b) * 3]
        assert codes.count(200) <= 3 and set(codes) <= {200, 429}, codes  # 2, and a refill
    finally:
        next(apps, None)


def test_one_worker_claims_an_incident_and_a_down_store_claims_locally(redis_url: str) -> None:
    caller = f"key:{uuid.uuid4().hex}"

    async def run() -> list[bool]:
        workers = [_worker(redis_url, "test") for _ in range(3)]
        workers[2].store.up = False  # down, and its backoff not over: not even tried
        workers[2].store._retry_at = time.monotonic() + 60
        async with closed(*workers):
            incidents = [
                Incident(f"i{n}", caller, "probing", "log", None, None, 0.0, 0.0, {})
                for n in range(3)
            ]
            return [await w.claim(i) for w, i in zip(workers, incidents, strict=True)]

    assert asyncio.run(run()) == [True, False, True]


def _probed_on_a(
    redis_url: str, config: TrackingConfig, caller: str
) -> tuple[list[SharedTracking], float]:
    """Two workers of one new service on ``redis_url`` (``deny`` for probing), and the time
    at which ``caller`` sent twelve probes to the first one only."""
    service = f"effects-{uuid.uuid4().hex[:8]}"
    workers = []
    for _ in range(2):
        tracker = Tracker(config, effects={"probing": "deny"})
        store = SharedLimiter.connect(redis_url, RateLimiter(50, 100), service, TIMEOUT)
        workers.append(SharedTracking(store, tracker))
    now = time.time()
    for i in range(12):
        workers[0].tracker.observe(caller, None, LOOKUP, 0, 403, False, None, now + i / 10)
    return workers, now


def test_a_deny_on_one_worker_holds_on_every_worker(redis_url: str) -> None:
    """A red-team run: a caller denied for probing on worker A switched to plain reads
    and was served by worker B, which had seen no probe. Effects are shared now."""
    caller = f"key:{uuid.uuid4().hex}"
    config = TrackingConfig(window=60.0, warmup_seconds=0, warmup_requests=1)

    async def run() -> list[Any]:
        workers, now = _probed_on_a(redis_url, config, caller)
        a, b = workers
        seen: list[Any] = []
        async with closed(*workers):
            seen.append(a.tracker.enforcement(caller, now + 2)[0])
            seen.append(b.tracker.enforcement(caller, now + 2)[0])  # B saw nothing
            await a.share_effects(now + 2)
            await b.share_effects(now + 2)
            seen.append(b.tracker.enforcement(caller, now + 2)[0])
            seen.append(b.tracker.enforcement("key:someone-else", now + 2)[0])
            later = now + 2 + config.window + 1  # A's incident is quiet: it lapses everywhere
            await b.share_effects(later)
            seen.append(b.tracker.enforcement(caller, later)[0])
        return seen

    assert asyncio.run(run()) == ["deny", None, "deny", None, None]


def test_a_remote_deny_outlives_a_failed_share(redis_url: str) -> None:
    """A red-team run: a caller denied on worker A (and through Redis on B) was served by B
    once another caller's load made one of B's shares time out, which cleared B's map of
    the other workers' effects. An effect is kept now until the end it was published with."""
    caller = f"key:{uuid.uuid4().hex}"
    config = TrackingConfig(window=60.0, warmup_seconds=0, warmup_requests=1)

    async def run() -> list[Any]:
        workers, now = _probed_on_a(redis_url, config, caller)
        a, b = workers
        seen: list[Any] = []
        async with closed(*workers):
            await a.share_effects(now + 2)
            await b.share_effects(now + 2)
            seen.append(b.tracker.enforcement(caller, now + 2)[0])
            b.store.up = False  # B's next shares fail (down, its backoff not over)
            b.store._retry_at = time.monotonic() + 60
            await b.share_effects(now + 3)
            seen.append(b.tracker.enforcement(caller, now + 3)[0])
            until = now + 1.1 + config.window  # A's last probe, then quiet for a window
            await b.share_effects(until - 1)
            seen.append(b.tracker.enforcement(caller, until - 1)[0])
            await b.share_effects(until + 1)  # its end has passed: lapsed, store or not
            seen.append(b.tracker.enforcement(caller, until + 1)[0])
        return seen

    assert asyncio.run(run()) == ["deny", "deny", "deny", None]


# -- the store killed and back -------------------------------------------------------------


def test_store_killed_counts_go_local_without_a_stall_and_come_back(
    own_redis: tuple[str, Any], caplog: pytest.LogCaptureFixture
) -> None:
    url, start_redis = own_redis
    caller = f"key:{uuid.uuid4().hex}"
    t0 = _t0()
    metrics = Metrics()

    async def run() -> None:
        async with warm_pair(url, caller, t0, metrics) as (a, b):
            _lookups(a, caller, [f"a{i}" for i in range(10)], t0 + 10)
            _lookups(b, caller, [f"b{i}" for i in range(10)], t0 + 10)
            assert await a.push(t0 + 10) and await b.push(t0 + 10) and await a.push(t0 + 10)
            st = a.tracker.callers[caller]
            assert st.o_ids == 10
            os.kill(_server_proc(url), signal.SIGKILL)
            _lookups(a, caller, ["a10"], t0 + 11)
            start = time.perf_counter()
            assert not await a.push(t0 + 11)
            took = time.perf_counter() - start
            assert took < TIMEOUT + 0.1, took  # refused or timed out: never a stall
            assert not a.store.up and not a.global_
            assert st.o_ids == 0 and st.o_req == 0  # judged on its own counts, as without a store
            start = time.perf_counter()
            assert not await a.push(t0 + 11)  # within the backoff: not even tried
            assert time.perf_counter() - start < 0.01
            assert "shim_shared_store_up 0.0" in metrics.exposition().decode()
            start_redis()  # empty: what was pushed before is gone, until pushed again
            await asyncio.sleep(BACKOFF_FIRST + 0.05)
            assert await a.push(t0 + 12)  # tried again after the backoff: back by itself
            assert a.store.up and a.global_
            import redis.asyncio as aioredis

            admin = aioredis.Redis.from_url(url)
            try:  # the worker's counts of the window are whole again; of the ids, the new one
                number = int(t0 // HOUR)
                fields = await admin.hgetall(counts_key("test", number, caller))
                assert [int(v) for k, v in fields.items() if k.endswith(b"|req")] == [st.cur_req]
                assert st.cur_req == 12  # 1 to warm, 10 lookups, 1 during the outage
                assert await admin.pfcount(ids_key("test", number, caller)) == 1
            finally:
                await admin.aclose()
            for _ in range(4):  # b's connection died with the server: it may fail once too
                if await b.push(t0 + 12):
                    break
                await asyncio.sleep(BACKOFF_FIRST * 2 + 0.05)
            assert b.store.up
            nxt = t0 + HOUR + 10  # the next window: its counts are global again
            _lookups(a, caller, [f"c{i}" for i in range(10)], nxt)
            _lookups(b, caller, [f"d{i}" for i in range(10)], nxt)
            assert await a.push(nxt) and await b.push(nxt) and await a.push(nxt)
            assert st.o_ids == 10 and b.tracker.callers[caller].o_ids == 10
            assert "shim_shared_store_up 1.0" in metrics.exposition().decode()

    with caplog.at_level(logging.INFO, logger="shim"):
        asyncio.run(run())
    events = [getattr(r, "event", None) for r in caplog.records]
    down = [r for r in caplog.records if getattr(r, "event", None) == "shared-store-down"]
    assert 1 <= len(down) <= 2 and all(r.levelno == logging.WARNING for r in down)  # once a worker
    assert events.count("shared-store-up") == len(down)
