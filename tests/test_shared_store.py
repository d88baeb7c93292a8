"""Rate limits shared through Redis (``SHIM_SHARED_STORE_URL``, runtime/service/shared.py).

Against a real Redis server (``SHIM_TEST_REDIS_URL``, ``eval "$(.ci/redis.sh)"``):
the Lua token bucket (burst, refill, the wait that becomes ``Retry-After``, one
atomic step under concurrency, EVAL when the script cache is empty); the
fallback to the local limiter when the store fails or hangs, said once per
outage and recovered from by itself; and the real ``serve`` of the generated
customer shim while its Redis server is stopped, killed and started again: no
request waits longer than the timeout plus a small margin.

The named case "a caller multiplies its limit by workers and replicas" is
``tests/security/test_shared_limits.py``.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import shutil
import signal
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from shimgen.runtime.service.auth import RateLimiter
from shimgen.runtime.service.callers import Caller, RateLimit
from shimgen.runtime.service.metrics import Metrics
from shimgen.runtime.service.settings import ConfigError, Settings
from shimgen.runtime.service.shared import BACKOFF_FIRST, SharedLimiter, bucket_key
from tests.conftest import skip_or_fail
from tests.serve_support import (
    Load,
    free_port,
    serve,
    serve_env,
    stop,
    wait_healthy,
    write_rate_callers,
)

TIMEOUT = 0.05  # SHIM_SHARED_STORE_TIMEOUT in these tests
# What a request may take beyond the timeout in the shim (event loop, audit record, JSON) on
# a CI machine running two test processes at once (0.2 s flaked there). A stall is longer:
# a check waiting on the hung server would wait for the rest of its 2 s phase.
MARGIN = 0.45
STALL = 1.0  # seen from the client (its own threads, a busy test machine): far below a stall


def _caller(per_second: float, burst: int) -> Caller:
    return Caller(
        f"t-{uuid.uuid4().hex}", frozenset({"support"}), "api_key", RateLimit(per_second, burst)
    )


def _limiter(url: str, metrics: Metrics | None = None, timeout: float = 1.0) -> SharedLimiter:
    return SharedLimiter.connect(url, RateLimiter(50, 100), "test", timeout, metrics)


async def _checks(limiter: SharedLimiter, caller: Caller, n: int) -> list[float | None]:
    try:
        return [await limiter.for_caller(caller) for _ in range(n)]
    finally:
        await limiter.aclose()


# -- the Lua token bucket, on the real server ---------------------------------------------


def test_bucket_gives_its_burst_then_a_wait(redis_url: str) -> None:
    caller = _caller(1.0, 5)
    waits = asyncio.run(_checks(_limiter(redis_url), caller, 7))
    assert waits[:5] == [None] * 5
    assert waits[5] is not None and 0.9 < waits[5] <= 1.0  # Retry-After: 1
    assert waits[6] is not None and 0.9 < waits[6] <= 1.0  # a refused check takes nothing


def test_bucket_refills_at_its_rate(redis_url: str) -> None:
    caller = _caller(20.0, 2)

    async def run() -> list[float | None]:
        limiter = _limiter(redis_url)
        try:
            out = [await limiter.for_caller(caller) for _ in range(3)]
            await asyncio.sleep(0.12)  # 2.4 tokens at 20/s, capped at the burst of 2
            out += [await limiter.for_caller(caller) for _ in range(3)]
            return out
        finally:
            await limiter.aclose()

    waits = asyncio.run(run())
    assert waits[:2] == [None, None]
    assert waits[2] is not None and 0.0 < waits[2] <= 0.05
    assert waits[3:5] == [None, None] and waits[5] is not None


def test_slow_rate_asks_for_a_long_retry_after(redis_url: str) -> None:
    waits = asyncio.run(_checks(_limiter(redis_url), _caller(0.5, 1), 2))
    assert waits[0] is None
    assert waits[1] is not None and 1.9 < waits[1] <= 2.0  # Retry-After: 2


def test_concurrent_checks_never_spend_a_token_twice(redis_url: str) -> None:
    """200 checks at once against a burst of 50: exactly 50 pass (no GET-then-SET race)."""
    caller = _caller(0.001, 50)

    async def run() -> list[float | None]:
        limiters = [_limiter(redis_url) for _ in range(4)]  # four "processes"
        try:
            return await asyncio.gather(*(limiters[i % 4].for_caller(caller) for i in range(200)))
        finally:
            for limiter in limiters:
                await limiter.aclose()

    waits = asyncio.run(run())
    assert sum(w is None for w in waits) == 50


def test_script_is_loaded_again_when_the_cache_is_empty(redis_url: str) -> None:
    import redis.asyncio as aioredis

    caller = _caller(10.0, 3)

    async def run() -> list[float | None]:
        admin = aioredis.Redis.from_url(redis_url)
        limiter = _limiter(redis_url)
        try:
            await admin.script_flush()
            out = [await limiter.for_caller(caller)]
            assert limiter.up
            await admin.script_flush()
            out.append(await limiter.for_caller(caller))
            ttl = await admin.pttl(bucket_key("test", caller.identity))
            assert 0 < ttl <= 1300  # expires once it would be full again (0.3 s + 1 s)
            return out
        finally:
            await limiter.aclose()
            await admin.aclose()

    assert asyncio.run(run()) == [None, None]
    assert asyncio.run(_checks(_limiter(redis_url), caller, 2))[-1] is not None  # same bucket


# -- falling back and recovering ---------------------------------------------------------------


class _Flaky:
    """A stand-in client: ``mode`` is "ok" (delegates), "down" (refuses), "hung" (never answers)."""

    def __init__(self, real: Any) -> None:
        self.real = real
        self.mode = "ok"
        self.calls = 0

    async def evalsha(self, *args: Any) -> Any:
        self.calls += 1
        if self.mode == "down":
            raise ConnectionRefusedError("refused")
        if self.mode == "hung":
            await asyncio.sleep(3600)
        return await self.real.evalsha(*args)

    async def eval(self, *args: Any) -> Any:
        return await self.real.eval(*args)

    async def aclose(self) -> None:
        await self.real.aclose()


def _text(metrics: Metrics) -> str:
    return metrics.exposition().decode()


def test_store_down_falls_back_once_and_recovers(
    redis_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    import redis.asyncio as aioredis

    metrics = Metrics()
    clock = [100.0]
    local = RateLimiter(50, 100)
    flaky = _Flaky(aioredis.Redis.from_url(redis_url))
    limiter = SharedLimiter(flaky, local, "test", TIMEOUT, metrics, clock=lambda: clock[0])
    caller = _caller(1000.0, 3)  # the local bucket goes on from the 2 the store left

    async def run() -> None:
        try:
            assert await limiter.for_caller(caller) is None and limiter.up
            flaky.mode = "down"
            assert [await limiter.for_caller(caller) for _ in range(3)][:2] == [None, None]
            assert not limiter.up and flaky.calls == 2  # one failed try, then no more until retry
            assert "shim_shared_store_up 0.0" in _text(metrics)
            clock[0] += BACKOFF_FIRST + 0.01
            await limiter.for_caller(caller)  # the retry fails too: still down, backoff doubles
            assert flaky.calls == 3 and not limiter.up
            flaky.mode = "ok"
            clock[0] += BACKOFF_FIRST + 0.01
            await limiter.for_caller(caller)
            assert flaky.calls == 3  # the doubled backoff has not passed yet
            clock[0] += BACKOFF_FIRST
            assert await limiter.for_caller(caller) is None and limiter.up
        finally:
            await limiter.aclose()

    with caplog.at_level(logging.INFO, logger="shim"):
        asyncio.run(run())
    events = [getattr(r, "event", None) for r in caplog.records]
    assert events.count("shared-store-down") == 1
    assert events.count("shared-store-up") == 1
    down = next(r for r in caplog.records if getattr(r, "event", None) == "shared-store-down")
    assert down.levelno == logging.WARNING
    text = _text(metrics)
    assert "shim_shared_store_up 1.0" in text
    assert "shim_shared_store_fallbacks_total 5.0" in text


def test_hung_store_never_holds_a_check_longer_than_the_timeout(redis_url: str) -> None:
    import redis.asyncio as aioredis

    flaky = _Flaky(aioredis.Redis.from_url(redis_url))
    flaky.mode = "hung"
    limiter = SharedLimiter(flaky, RateLimiter(50, 100), "test", TIMEOUT)
    caller = _caller(1000.0, 100)

    async def run() -> list[float]:
        took = []
        try:
            for _ in range(20):
                start = time.perf_counter()
                assert await limiter.for_caller(caller) is None
                took.append(time.perf_counter() - start)
        finally:
            await limiter.aclose()
        return took

    took = asyncio.run(run())
    assert max(took) < TIMEOUT + 0.03
    # the others were decided locally, without waiting; a timeout across which this loaded
    # machine paused the test's event loop does not call the store down (the loop's lag), so
    # a try or two more may be made before one is the store's
    assert flaky.calls <= 3, flaky.calls


def test_unreachable_store_answers_at_once_from_the_local_limit() -> None:
    port = free_port()  # nothing listens there
    limiter = _limiter(f"redis://127.0.0.1:{port}/0", timeout=TIMEOUT)
    start = time.perf_counter()
    waits = asyncio.run(_checks(limiter, _caller(0.001, 3), 5))  # no refill meanwhile
    assert time.perf_counter() - start < TIMEOUT + 0.1
    assert waits[:3] == [None] * 3 and waits[3] is not None and not limiter.up


# -- settings -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("env", "variable"),
    [
        ({"SHIM_SHARED_STORE_URL": "http://127.0.0.1:6379/0"}, "SHIM_SHARED_STORE_URL"),
        ({"SHIM_SHARED_STORE_URL": "redis://:pw@/0"}, "SHIM_SHARED_STORE_URL"),
        ({"SHIM_SHARED_STORE_URL": "redis://h:0/0"}, "SHIM_SHARED_STORE_URL"),
        ({"SHIM_SHARED_STORE_URL": "redis://h:6379/x"}, "SHIM_SHARED_STORE_URL"),
        ({"SHIM_SHARED_STORE_TIMEOUT": "0"}, "SHIM_SHARED_STORE_TIMEOUT"),
        ({"SHIM_SHARED_STORE_TIMEOUT": "10"}, "SHIM_SHARED_STORE_TIMEOUT"),
        ({"SHIM_SHARED_STORE_TIMEOUT": "fast"}, "SHIM_SHARED_STORE_TIMEOUT"),
    ],
)
def test_bad_store_settings_name_the_variable(env: dict[str, str], variable: str) -> None:
    with pytest.raises(ConfigError) as err:
        Settings.from_env(env)
    assert err.value.variable == variable and variable in str(err.value)
    assert "pw@" not in str(err.value)


def test_store_settings_default_and_hide_the_password() -> None:
    assert Settings.from_env({}).shared_store_url is None
    assert Settings.from_env({}).shared_store_timeout == 0.25
    settings = Settings.from_env(
        {
            "SHIM_SHARED_STORE_URL": "redis://:s3cret@cache:6380/2",
            "SHIM_SHARED_STORE_TIMEOUT": "0.2",
        }
    )
    assert settings.shared_store_url == "redis://:s3cret@cache:6380/2"
    assert settings.shared_store_timeout == 0.2
    assert "s3cret" not in repr(settings)


# -- the real service while its Redis is stopped, killed and started again ------------------------


@pytest.fixture
def own_redis(tmp_path: Path) -> Iterator[tuple[str, Any]]:
    """A Redis server of this test alone (it is killed): its URL and a (re)start function."""
    binary = shutil.which("redis-server")
    if binary is None:
        skip_or_fail('redis-server is not installed; install it or run: eval "$(.ci/redis.sh)"')
    port = free_port()
    procs: list[subprocess.Popen[bytes]] = []

    def start() -> subprocess.Popen[bytes]:
        proc = subprocess.Popen(
            [binary, "--bind", "127.0.0.1", "--port", str(port), "--save", "",
             "--appendonly", "no", "--dir", str(tmp_path)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        procs.append(proc)
        deadline = time.monotonic() + 10
        import socket

        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                return proc
            except OSError:
                time.sleep(0.02)
        raise AssertionError("redis-server did not start")

    start()
    try:
        yield f"redis://127.0.0.1:{port}/0", start
    finally:
        for proc in procs:
            if proc.poll() is None:
                os.kill(proc.pid, signal.SIGCONT)
                proc.kill()
                proc.wait()


def test_service_never_stalls_while_its_store_hangs_dies_and_returns(
    own_redis: tuple[str, Any], tmp_path: Path
) -> None:
    url, start_redis = own_redis
    callers, key = write_rate_callers(tmp_path / "callers.yaml", per_second=200, burst=50)
    env = serve_env(tmp_path, callers, "p1")
    env.update({"SHIM_SHARED_STORE_URL": url, "SHIM_SHARED_STORE_TIMEOUT": str(TIMEOUT)})
    port = free_port()
    log = tmp_path / "serve.log"
    proc = serve(env, 2, tmp_path, port, log)
    try:
        wait_healthy(proc, port, log)
        redis_proc = _server_proc(url)
        load = Load([port], key, concurrency=4)
        phases: dict[str, Any] = {}
        phases["up"] = load.run(1.5)
        os.kill(redis_proc, signal.SIGSTOP)  # hangs: every try ends at the timeout
        phases["hung"] = load.run(2.0)
        os.kill(redis_proc, signal.SIGCONT)
        os.kill(redis_proc, signal.SIGKILL)  # gone: refused at once
        phases["killed"] = load.run(2.0)
        start_redis()
        # until every worker has tried again after its backoff (at most 4 s) and said so
        phases["back"] = load.run(2.0)
        deadline = time.monotonic() + 15
        metrics = _get_text(port, "/metrics")
        while "shim_shared_store_up 1.0" not in metrics and time.monotonic() < deadline:
            more = load.run(1.0)
            back = phases["back"]
            back.seconds += more.seconds
            back.ok += more.ok
            back.limited += more.limited
            back.errors += more.errors
            back.worst = max(back.worst, more.worst)
            back.latencies += more.latencies
            metrics = _get_text(port, "/metrics")
    finally:
        stop(proc)
    report = {k: v.summary() for k, v in phases.items()}
    print("\nshared store outage:", json.dumps(report))
    for name, result in phases.items():
        assert result.errors == 0, (name, result.summary())
        assert result.ok > 0, f"{name}: no request was accepted"  # requests go on
        assert result.worst < STALL, (name, result.summary())
    lines = [json.loads(x) for x in log.read_text().splitlines() if x.startswith("{")]
    served = [x for x in lines if x.get("event") == "request" and "latency_ms" in x]
    assert served, "no access log lines"
    worst_ms = max(x["latency_ms"] for x in served)
    print("slowest request in the shim:", worst_ms, "ms")
    assert worst_ms < (TIMEOUT + MARGIN) * 1000, worst_ms  # timeout + margin, in every phase
    down = [x for x in lines if x.get("event") == "shared-store-down"]
    up = [x for x in lines if x.get("event") == "shared-store-up"]
    assert down and all(x["level"] == "warning" for x in down)
    assert 1 <= len(down) <= 4, down  # once per outage (two) in each of the two workers
    assert up, "the shim did not say that the store was back"
    assert "shim_shared_store_up 1.0" in metrics, metrics
    assert "shim_shared_store_fallbacks_total" in metrics


def _server_proc(url: str) -> int:
    """The pid of the redis-server answering at ``url`` (asked over the protocol itself)."""
    import redis

    client = redis.Redis.from_url(url)
    try:
        return int(client.info("server")["process_id"])
    finally:
        client.close()


def _get_text(port: int, path: str) -> str:
    import urllib.request

    with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as response:
        return str(response.read().decode())
