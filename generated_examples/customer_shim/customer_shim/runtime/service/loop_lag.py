"""Whether a worker's own event loop ran late, so that a timeout can be told from a slow store.

:class:`.shared.SharedLimiter` bounds each call to the shared store with a
timeout measured on the event loop. A loop busy with other requests (a large
batch translated without an await) leaves the store's answer unread in the
socket, and the timer expires although the store answered at once; a caller
who can load a worker must not make a healthy store look down.
"""

from __future__ import annotations

import asyncio
import math

__all__ = ["LoopLag"]


class LoopLag:
    """Whether this worker's event loop ran late: a timeout across such a stretch is the loop's.

    A store's answer that arrives while the loop is busy with other requests (a
    large batch transformed without an await) waits unread in the socket, and
    the check's timer expires although the store answered at once; calling the
    store down then would let whoever can load a worker loosen every caller's
    limits. A callback due every ``period`` seconds notes when it ran at least
    ``threshold`` late: for that long the loop read no socket. Cheap (a few dozen
    callbacks a second), and it judges only a timeout, never a refused connection.
    """

    __slots__ = ("_due", "_handle", "_loop", "late_at", "period", "threshold")

    def __init__(self, timeout: float) -> None:
        self.period = min(max(timeout / 10, 0.005), 0.05)
        self.threshold = timeout / 5
        self.late_at = -math.inf  # loop time at which the last late tick ran
        self._loop: asyncio.AbstractEventLoop | None = None
        self._handle: asyncio.TimerHandle | None = None
        self._due = 0.0

    def watch(self) -> float:
        """Start watching the running loop (again, if it is another one); its time now."""
        loop = asyncio.get_running_loop()
        if self._loop is not loop:
            self.stop()
            self._loop = loop
            self._schedule(loop.time())
        return loop.time()

    def late_since(self, since: float) -> bool:
        """Whether the loop ran late at or after loop time ``since``, or is late now."""
        loop = self._loop
        if loop is None:
            return False
        return self.late_at >= since or loop.time() - self._due >= self.threshold

    def stop(self) -> None:
        if self._handle is not None:
            self._handle.cancel()
        self._handle = self._loop = None

    def _schedule(self, now: float) -> None:
        assert self._loop is not None
        self._due = now + self.period
        self._handle = self._loop.call_at(self._due, self._tick)

    def _tick(self) -> None:
        assert self._loop is not None
        now = self._loop.time()
        if now - self._due >= self.threshold:
            self.late_at = now
        self._schedule(now)
