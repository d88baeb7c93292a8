"""Rate limits shared by every worker and replica through one Redis server.

Without ``SHIM_SHARED_STORE_URL`` each worker process keeps its own token
buckets (:class:`.auth.RateLimiter`): a caller limited to 50 requests/s gets
50/s from *each* process, so workers x replicas times the limit in all. With it,
every check is one atomic call to Redis: a Lua token bucket (:data:`TOKEN_BUCKET`)
keyed by the mapping's name and the caller's identity (``key:<name>``,
``jwt:<issuer>#<sub>``), that takes the time from the Redis server (``TIME``),
so the replicas' clocks do not matter, and reads and writes the bucket in one
step, so no two checks can both spend the last token (the failure of limiters
that GET and then SET).

Every check is also charged to the local limiter of this process, whose bucket
is then lowered to the tokens the shared bucket reported (the script answers
them): a check the store cannot answer is decided by that local bucket, which
continues from the shared count (less the checks under way), never from a
fresh burst per worker and replica.

A check never waits longer than ``SHIM_SHARED_STORE_TIMEOUT``: when the store
does not answer in time, refuses the connection or fails in any other way, the
request is decided by the local limiter of this process. A timeout across
which this worker's own event loop was late (:class:`LoopLag`: it read no
socket for a fifth of the timeout or more) says nothing about the store: only
that check is decided locally, and the store stays up. Otherwise the store is
marked down: one WARNING log line (event ``shared-store-down``), the gauge
``shim_shared_store_up`` at 0, and ``shim_shared_store_fallbacks_total``
counting every check decided locally while it is down. While it is down,
requests do not wait on it at all; one request at a time tries it again after a
backoff (:data:`BACKOFF_FIRST`, doubling up to :data:`BACKOFF_MAX` seconds), and
the first that succeeds marks it up again (INFO log, event ``shared-store-up``).
During an outage a caller's limit is per process again, as without a store,
each process going on from the count the store last reported to it.
The same client and the same up/down state carry heuristic tracking's counts
(:mod:`.shared_tracking`), so one outage is one WARNING for both.

The ``redis`` package is imported only when a store is configured.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING, Any, Final, TypeVar

from .logs import exception_fields, logger
from .loop_lag import LoopLag

if TYPE_CHECKING:
    from .auth import Caller, RateLimiter
    from .metrics import Metrics

T = TypeVar("T")

__all__ = ["BACKOFF_FIRST", "BACKOFF_MAX", "TOKEN_BUCKET", "SharedLimiter", "bucket_key"]

BACKOFF_FIRST: Final = 0.5  # seconds before the first retry of a store that failed
BACKOFF_MAX: Final = 4.0  # the longest wait between two retries
LATE_MAX: Final = 2.0  # how long a check's answer is still awaited after its request went on

# KEYS[1]: the bucket; ARGV[1]: rate (tokens per second, > 0), ARGV[2]: burst (>= 1).
# Returns the seconds to wait ("0": a token was taken) and the tokens left, as strings: a Lua
# number would be truncated to an integer by Redis. The bucket expires once it would be full
# again anyway.
TOKEN_BUCKET: Final = """
local rate = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local b = redis.call('HMGET', KEYS[1], 't', 'ts')
local tokens = tonumber(b[1])
local ts = tonumber(b[2])
if tokens == nil or ts == nil then
  tokens = burst
else
  local elapsed = now - ts
  if elapsed > 0 then tokens = tokens + elapsed * rate end
  if tokens > burst then tokens = burst end
end
local wait = 0
if tokens >= 1 then
  tokens = tokens - 1
else
  wait = (1 - tokens) / rate
end
redis.call('HSET', KEYS[1], 't', string.format('%.17g', tokens), 'ts', string.format('%.17g', now))
redis.call('PEXPIRE', KEYS[1], math.ceil(burst / rate * 1000) + 1000)
return {string.format('%.17g', wait), string.format('%.17g', tokens)}
"""


@functools.cache
def _sha1(source: str) -> str:
    """The SHA-1 a Lua script is cached under on the server (EVALSHA)."""
    return hashlib.sha1(source.encode()).hexdigest()


def bucket_key(service: str, identity: str) -> str:
    """The Redis key of a caller's bucket: one service's callers never share another's."""
    return f"shim:{service}:rate:{identity}"


class SharedLimiter:
    """The rate limit through Redis, with the process's own limiter when Redis fails.

    ``client`` is a ``redis.asyncio.Redis`` (see :meth:`connect`); ``local`` the
    per-process limiter whose default rate and burst apply to callers without
    their own limit, and which decides while the store is down.
    """

    __slots__ = (
        "_backoff",
        "_client",
        "_clock",
        "_lag",
        "_late",
        "_probing",
        "_retry_at",
        "local",
        "metrics",
        "service",
        "timeout",
        "up",
    )

    def __init__(
        self,
        client: Any,
        local: RateLimiter,
        service: str,
        timeout: float,
        metrics: Metrics | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._client = client
        self.local = local
        self.service = service
        self.timeout = timeout
        self.metrics = metrics
        self._clock = clock
        self.up = True
        self._probing = False
        self._retry_at = 0.0
        self._backoff = BACKOFF_FIRST
        self._lag = LoopLag(timeout)
        self._late: set[asyncio.Future[Any]] = set()  # checks answered after their timeout
        if metrics is not None:
            metrics.shared_store(True)

    @classmethod
    def connect(
        cls,
        url: str,
        local: RateLimiter,
        service: str,
        timeout: float,
        metrics: Metrics | None = None,
    ) -> SharedLimiter:
        """A limiter with a client for ``url`` (nothing is sent until the first check).

        redis-py's own retries are turned off: a failed check falls back at once. Its
        socket timeouts are the bound of an answer awaited late (:meth:`call`): the
        timeout of a request is ours, and a socket timed out by a busy loop's lag would
        lose the answer the server sent in time.
        """
        import redis.asyncio as aioredis
        from redis.asyncio.retry import Retry
        from redis.backoff import NoBackoff

        client = aioredis.Redis.from_url(
            url,
            socket_timeout=_late_max(timeout),
            socket_connect_timeout=_late_max(timeout),
            retry=Retry(NoBackoff(), 0),
            retry_on_timeout=False,
            decode_responses=False,
        )
        return cls(client, local, service, timeout, metrics)

    @property
    def client(self) -> Any:
        """The Redis client, for the tracking counts (:mod:`.shared_tracking`) to share."""
        return self._client

    async def aclose(self) -> None:
        self._lag.stop()
        for work in list(self._late):
            work.cancel()
        await self._client.aclose()

    async def for_caller(self, caller: Caller) -> float | None:
        """None if the request may go ahead, else seconds until the caller's next token."""
        rate, burst = self.local.limit_of(caller)
        if rate <= 0:
            return None
        return await self.bucket(caller.identity, rate, burst)

    async def bucket(self, name: str, rate: float, burst: int) -> float | None:
        """One step of the bucket ``name`` of this service (a caller's identity, a throttled
        caller's): on the server, or in the local limiter's bucket of that name when the
        store does not answer (counted in ``shim_shared_store_fallbacks_total``).

        The local bucket is charged before the store is asked and lowered to the tokens the
        store reports after, so it follows the shared count less the checks under way: a
        fallback (one timed-out check, an outage) goes on from there, not from a full burst.
        """
        local = self.local.retry_after(name, rate, burst)

        def settle(answer: tuple[float | None, float] | None) -> None:
            if answer is not None:
                self.local.settle(name, answer[1], rate, burst)

        key = bucket_key(self.service, name)
        ok, answer = await self.call(self.check, key, rate, burst, late=settle)
        if ok and answer is not None:
            settle(answer)
            return answer[0]
        if self.metrics is not None:
            self.metrics.shared_store_fallback()
        return local

    async def call(
        self,
        fn: Callable[..., Awaitable[T]],
        *args: Any,
        late: Callable[[T], None] | None = None,
    ) -> tuple[bool, T | None]:
        """``(True, await fn(*args))`` within the timeout, else ``(False, None)``.

        With ``late``, a call that overruns the timeout is not cancelled: it goes on in
        the background (:data:`LATE_MAX` seconds, or twice the timeout if longer) and
        ``late`` gets its answer,
        so a check the server did count is not lost to the local bucket (:meth:`bucket`).

        The one place that decides whether the store is up: rate-limit checks and
        the tracking counts' pushes (:mod:`.shared_tracking`) share its state, its
        backoff and its log lines, so an outage is said once and tried one call at a time.
        A timeout while this worker's loop ran late (:class:`LoopLag`) is answered
        ``(False, None)`` too, but marks nothing: the store was not shown to be down.
        """
        probe = False
        if not self.up:
            if self._probing or self._clock() < self._retry_at:
                return False, None
            self._probing = probe = True
        started = self._lag.watch()
        work: asyncio.Future[T] | None = None
        try:
            async with asyncio.timeout(self.timeout):
                if late is None:
                    result = await fn(*args)
                else:
                    work = asyncio.ensure_future(_bounded(_late_max(self.timeout), fn, args))
                    result = await asyncio.shield(work)
        except Exception as exc:  # unreachable, timed out, refused, a script error: all local
            if work is not None and late is not None and not work.done():
                self._finish_late(work, late)
            if not (_timed_out(exc) and self._lag.late_since(started)):
                self._down(exc, probe)
            return False, None
        finally:
            if probe:
                self._probing = False
        if not self.up:
            self._recovered()
        return True, result

    def _finish_late(self, work: asyncio.Future[T], late: Callable[[T], None]) -> None:
        """Hand ``work``'s answer to ``late`` when it comes; keep a reference until then."""
        pending = self._late

        def done(fut: asyncio.Future[T]) -> None:
            pending.discard(fut)
            if not fut.cancelled() and fut.exception() is None:
                late(fut.result())

        pending.add(work)
        work.add_done_callback(done)

    async def check(self, key: str, rate: float, burst: int) -> tuple[float | None, float]:
        """One atomic token-bucket step on the server: the wait (None: a token was taken)
        and the tokens left."""
        raw = await self.script(TOKEN_BUCKET, (key,), (repr(float(rate)), str(int(burst))))
        wait, tokens = float(raw[0]), float(raw[1])
        return (wait if wait > 0 else None), tokens

    async def script(self, source: str, keys: Sequence[str], args: Sequence[Any]) -> Any:
        """Run the Lua script ``source`` atomically on the server: EVALSHA, and EVAL when the
        server has not cached it (a restart, ``SCRIPT FLUSH``), which caches it again."""
        from redis.exceptions import NoScriptError

        try:
            return await self._client.evalsha(_sha1(source), len(keys), *keys, *args)
        except NoScriptError:
            return await self._client.eval(source, len(keys), *keys, *args)

    def _down(self, exc: BaseException, probe: bool) -> None:
        now = self._clock()
        if self.up:
            self.up = False
            self._backoff = BACKOFF_FIRST
            if self.metrics is not None:
                self.metrics.shared_store(False)
            logger.warning(
                "shared store unreachable: rate limits and tracking counts are per process"
                " until it is back",
                extra={"event": "shared-store-down", **exception_fields(exc)},
            )
        elif probe:  # checks that were under way when it went down change nothing
            self._backoff = min(self._backoff * 2, BACKOFF_MAX)
        else:
            return
        self._retry_at = now + self._backoff

    def _recovered(self) -> None:
        self.up = True
        self._backoff = BACKOFF_FIRST
        if self.metrics is not None:
            self.metrics.shared_store(True)
        logger.info(
            "shared store reachable again: rate limits and tracking counts are shared",
            extra={"event": "shared-store-up"},
        )


def _timed_out(exc: BaseException) -> bool:
    """A timeout (ours or redis-py's socket timeout), which the loop's own lag may explain;
    a refused connection or an error answer cannot."""
    from redis.exceptions import TimeoutError as RedisTimeout

    return isinstance(exc, (TimeoutError, RedisTimeout))


def _late_max(timeout: float) -> float:
    return max(LATE_MAX, 2 * timeout)


async def _bounded(limit: float, fn: Callable[..., Awaitable[T]], args: Sequence[Any]) -> T:
    """``await fn(*args)``, given up after ``limit`` seconds."""
    async with asyncio.timeout(limit):
        return await fn(*args)
