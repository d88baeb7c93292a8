"""What counts as the shared store being down, and where a fallback bucket starts.

A red-team pass (HIGH) loaded one worker with concurrent batch requests while its
Redis server was healthy: the worker's event loop read Redis's answers late, the
0.25 s timeout of the rate-limit checks expired, and the worker called the store
down. Every check then used a fresh local bucket (a full burst per worker and
replica: 37 accepted for a burst of 20 from one caller), and the shared tracking
effects were forgotten. Pinned here against a real Redis server
(``SHIM_TEST_REDIS_URL``):

- a timeout across which this worker's own loop was late is not evidence that the
  store is down: it stays up, and the check is decided by the local bucket;
- a fallback continues from the count the shared bucket last reported, never from
  a fresh burst; a check that is under way is charged to the local bucket too.

The remote effects that outlive a failed share are pinned in
``tests/test_shared_tracking.py::test_a_remote_deny_outlives_a_failed_share``.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from typing import Any

import pytest

from shimgen.runtime.service.auth import RateLimiter
from shimgen.runtime.service.callers import Caller, RateLimit
from shimgen.runtime.service.metrics import Metrics
from shimgen.runtime.service.shared import SharedLimiter

TIMEOUT = 0.25  # the default SHIM_SHARED_STORE_TIMEOUT
BUSY = 4 * TIMEOUT  # one batch holding the loop: every check under way overruns its timeout


def _caller(per_second: float, burst: int) -> Caller:
    return Caller(
        f"t-{uuid.uuid4().hex}", frozenset({"support"}), "api_key", RateLimit(per_second, burst)
    )


def _fallbacks(metrics: Metrics) -> float:
    for line in metrics.exposition().decode().splitlines():
        if line.startswith("shim_shared_store_fallbacks_total "):
            return float(line.split()[1])
    return 0.0


async def _batch() -> None:
    """A request that transforms a large batch without awaiting: the loop reads no socket."""
    await asyncio.sleep(0)  # after the checks have sent their commands
    time.sleep(BUSY)


def test_a_busy_loop_does_not_mark_a_healthy_store_down(
    redis_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    """One caller (5/s, burst 20) loads its worker; Redis is up the whole time."""
    metrics = Metrics()
    limiter = SharedLimiter.connect(redis_url, RateLimiter(50, 100), "lag", TIMEOUT, metrics)
    caller = _caller(5.0, 20)

    async def run() -> tuple[int, float]:
        start = time.monotonic()
        try:
            accepted = 0
            for _ in range(3):  # each round: checks under way while a batch holds the loop
                waits = await asyncio.gather(
                    *(limiter.for_caller(caller) for _ in range(30)), _batch()
                )
                accepted += sum(w is None for w in waits[:-1])
            for _ in range(20):  # after the load: shared, not per process
                accepted += await limiter.for_caller(caller) is None
            assert limiter.up, "a healthy store was called down"
            return accepted, time.monotonic() - start
        finally:
            await limiter.aclose()

    with caplog.at_level(logging.INFO, logger="shim"):
        accepted, took = asyncio.run(run())
    assert _fallbacks(metrics) > 0, "no check overran its timeout: the load did not bite"
    events = [getattr(r, "event", None) for r in caplog.records]
    assert "shared-store-down" not in events
    allowed = 20 + 5 * took + 1  # the burst, the refill over the test, one in flight
    assert accepted <= allowed, (accepted, allowed)


class _Refusing:
    """A stand-in client that delegates until ``down`` is set, then refuses every command."""

    def __init__(self, real: Any) -> None:
        self.real = real
        self.down = False

    async def evalsha(self, *args: Any) -> Any:
        if self.down:
            raise ConnectionRefusedError("refused")
        return await self.real.evalsha(*args)

    async def eval(self, *args: Any) -> Any:
        if self.down:
            raise ConnectionRefusedError("refused")
        return await self.real.eval(*args)

    async def aclose(self) -> None:
        await self.real.aclose()


def test_a_fallback_continues_from_the_shared_count(redis_url: str) -> None:
    """Two workers spend 18 of a burst of 20 through Redis, then Redis goes away: each
    continues from the count its own last check was told (3 and 2 tokens left), where
    each used to start a fresh burst of 20."""
    import redis.asyncio as aioredis

    caller = _caller(0.001, 20)  # no refill to speak of during the test
    clients = [_Refusing(aioredis.Redis.from_url(redis_url)) for _ in range(2)]
    workers = [SharedLimiter(c, RateLimiter(50, 100), "carry", 1.0) for c in clients]

    async def run() -> tuple[int, int]:
        try:
            shared = 0
            for i in range(18):
                shared += await workers[i % 2].for_caller(caller) is None
            for client in clients:
                client.down = True
            local = 0
            for i in range(40):
                local += await workers[i % 2].for_caller(caller) is None
            assert not any(w.up for w in workers)
            return shared, local
        finally:
            for worker in workers:
                await worker.aclose()

    shared, local = asyncio.run(run())
    assert shared == 18
    assert local == 3 + 2, f"the fallbacks accepted {local}, not the 3 and 2 last reported"
