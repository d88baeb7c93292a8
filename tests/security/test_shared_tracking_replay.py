"""Slowing a worker down makes shared tracking count every caller twice.

The attack: with a shared store, each worker pushes its tracking counts to Redis
once a second. A push whose answer times out may still have run in Redis. When
pushes were deltas (``HINCRBY``), the worker sent the same deltas again next
time, so whoever could slow a worker (load it, or the network to Redis) could
double the counts of every caller active on it: volume, enumeration and
probing then open incidents, with their ``throttle`` or ``deny``, against
callers that did nothing unusual.

The control (runtime/service/shared_tracking.py): a push is idempotent. Each
worker writes its own counts so far in hash fields of its own, set only
upwards, and the ids into a HyperLogLog, so a push sent twice, or a late one
after a newer, changes nothing. The cases run against a real Redis server
(``SHIM_TEST_REDIS_URL``), with a push whose answer is lost after Redis ran it.
"""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import redis.asyncio as aioredis

from shimgen.runtime.service.shared_tracking import SharedTracking, counts_key
from tests.test_shared_tracking import HOUR, _lookups, _t0, warm_pair


class _AnswerLost:
    """The worker's store, whose next call runs in Redis but whose answer is lost (a timeout)."""

    def __init__(self, sync: SharedTracking) -> None:
        self._sync, self._real = sync, sync.store
        sync.store = self  # type: ignore[assignment]

    def __getattr__(self, name: str) -> Any:
        return getattr(self._real, name)

    async def call(self, *args: Any, **kwargs: Any) -> tuple[bool, Any]:
        await self._real.call(*args, **kwargs)  # Redis ran it
        self._sync.store = self._real  # the next calls are answered
        return False, None


def test_a_push_whose_answer_is_lost_counts_once_when_sent_again(redis_url: str) -> None:
    caller = f"key:{uuid.uuid4().hex}"
    t0 = _t0()

    async def run() -> None:
        async with warm_pair(redis_url, caller, t0) as (a, b):
            admin = aioredis.Redis.from_url(redis_url)
            try:
                now = t0 + 10
                assert _lookups(a, caller, [f"a{i}" for i in range(20)], now) == []
                _AnswerLost(a)
                assert not await a.push(now)  # failed as far as the worker knows
                for _ in range(3):  # and sent again, as the next pushes do
                    assert await a.push(now)
                assert await b.push(now)
                st_b = b.tracker.callers[caller]
                # a's 21 requests of this window (1 to warm, 20 lookups) and 20 ids, once
                assert (st_b.o_req, st_b.o_ids) == (21, 20)
                assert _lookups(b, caller, ["b0"], now) == []  # 20 + 1 ids: under the floor of 30
                assert b.tracker.open_incidents() == []
                fields = await admin.hgetall(counts_key("test", int(t0 // HOUR), caller))
                requests = sum(int(v) for k, v in fields.items() if k.endswith(b"|req"))
                assert requests == 21 + 1  # a's 21 and b's 1 pushed: nothing counted twice
            finally:
                await admin.aclose()

    asyncio.run(run())


def test_a_late_push_after_a_newer_one_changes_nothing(redis_url: str) -> None:
    """Counts only rise within a window: an older snapshot arriving last cannot lower them."""
    caller = f"key:{uuid.uuid4().hex}"
    t0 = _t0()

    async def run() -> None:
        async with warm_pair(redis_url, caller, t0) as (a, b):
            now = t0 + 10
            _lookups(a, caller, [f"a{i}" for i in range(5)], now)
            assert await a.push(now)  # a: 6 requests
            _lookups(a, caller, [f"a{i}" for i in range(5, 25)], now)
            assert await a.push(now)  # a: 26 requests
            st_a = a.tracker.callers[caller]
            st_a.cur_req = 6  # a stale snapshot of 6, sent after the one of 26
            assert await a.push(now)
            assert await b.push(now)
            assert b.tracker.callers[caller].o_req == 26

    asyncio.run(run())
