"""Getting audit events into the sink at the lowest per-request cost the sink allows.

The audit write is on every translated request's critical path: the response
may only leave once its event is stored. How to call the sink depends on what
it is (see :class:`~.audit.AuditSink`):

* ``blocking`` sinks (PostgreSQL, SQLite with ``synchronous=full``, JSON lines
  with ``fsync=1``) wait on the network or the disk, so they are called from
  one writer thread, never from the event loop. Events that queue up while a
  write is in progress are written together by the next call (one
  ``append_many`` transaction if the sink offers it), so the commit cost is
  shared by every request that was waiting;
* non-blocking sinks with ``append_many`` are called on the event loop with
  every event of a batch (group commit without a thread: no context switch per
  request). Waiting makes batches larger under load, so fewer commits share the
  work, but a worker that waits while nothing else can arrive is only idle. So
  a batch is written as soon as every *active* connection (one whose audited
  request was answered in the last 20 ms) has a request waiting in it: an
  HTTP/1.1 connection carries one request at a time, so nothing more can join.
  Otherwise it is written on the event loop's next pass, with the events that
  pass brought, or, while active connections are still expected, at most 2 ms
  after its first event. A request whose connection is unknown (no client
  port, e.g. behind a trusted proxy's ``X-Forwarded-For``; HTTP/2, which
  multiplexes) keeps its batch to the next pass;
* non-blocking sinks without it are called inline: the cheapest path there is.

In every mode a request returns only after *its* event is stored, and a failed
write fails exactly the requests whose events it carried.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import queue
import random
import threading
from collections.abc import Mapping
from typing import Any, Final

from .chain import AuditBusy

__all__ = ["Recorder"]

_MAX_BATCH: Final = 256
_GROUP_MAX: Final = 0.002  # seconds a batch may wait for active connections to join it
_GROUP_SLACK: Final = 0.0005  # a batch due sooner than this is written now (uvloop's clock is 1 ms)
_ACTIVE: Final = 0.02  # seconds a connection counts as active after its last audited request
_MAX_CONNECTIONS: Final = 4096  # active connections tracked; beyond, tracking starts afresh
_BUSY_RETRY: Final = 0.0005  # seconds between tries while another writer holds the store
_BUSY_LIMIT: Final = 5.0  # then the waiting requests fail (503)
_Item = tuple[Mapping[str, Any], "asyncio.Future[None]", asyncio.AbstractEventLoop]


class Recorder:
    """Writes audit events to ``sink`` in the mode that suits it (see the module docstring)."""

    def __init__(self, sink: Any) -> None:
        self.sink = sink
        self.mode = (
            "thread"
            if getattr(sink, "blocking", False)
            else "batch"
            if callable(getattr(sink, "append_many", None))
            else "inline"
        )
        self._pending: list[_Item] = []
        self._timer: asyncio.Handle | None = None
        self._opened = 0.0  # loop time of the batch's first event
        self._blind = False  # the batch holds a request whose connection is unknown
        self._active: dict[Any, float] = {}  # connection -> loop time of its last event
        self._waiting: set[Any] = set()  # connections with an event in the batch
        self._busy_since = 0.0
        many = getattr(sink, "append_many", None)
        # Stores that can refuse instead of waiting for a lock say so with a ``wait`` parameter.
        self._nowait = many is not None and "wait" in inspect.signature(many).parameters
        self._queue: queue.SimpleQueue[_Item | None] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        if self.mode == "thread":
            self._thread = threading.Thread(target=self._run, name="shim-audit", daemon=True)
            self._thread.start()

    async def append(self, event: Mapping[str, Any], connection: Any = None) -> None:
        """Return once ``event`` is stored; raise what the sink raised otherwise.

        ``connection`` identifies the HTTP/1.1 connection the request came on
        (hashable, e.g. the client's address and port), or is None if unknown;
        batch mode uses it to write a batch as soon as nothing more can join it.
        """
        if self.mode == "inline":
            self.sink.append(event)
            return
        loop = asyncio.get_running_loop()
        future: asyncio.Future[None] = loop.create_future()
        if self.mode == "thread":
            self._queue.put((event, future, loop))
            await future
            return
        pending = self._pending
        if not pending:
            self._opened = loop.time()
            self._timer = loop.call_soon(self._on_timer)
        pending.append((event, future, loop))
        if connection is None:
            self._blind = True
        elif not self._blind:
            active = self._active
            known = len(active)
            active[connection] = loop.time()
            if known >= _MAX_CONNECTIONS and len(active) > known:
                active.clear()  # too many to track: start afresh (batches only get smaller)
                active[connection] = loop.time()
            waiting = self._waiting
            waiting.add(connection)
            if len(waiting) >= len(active) and not self._busy_since:
                self._flush()  # every active connection is waiting on this batch
        await future

    def close(self) -> None:
        """Write what is queued, then stop the writer thread (if any)."""
        if self._thread is not None:
            self._queue.put(None)
            self._thread.join(timeout=30)
            self._thread = None

    def _on_timer(self) -> None:
        """The loop's next pass (or the 2 ms limit): write the batch unless active connections may still join it."""
        loop = asyncio.get_running_loop()
        now = loop.time()
        active = self._active
        stale = [c for c, seen in active.items() if now - seen > _ACTIVE]
        for connection in stale:
            del active[connection]
        left = self._opened + _GROUP_MAX - now
        if not self._blind and len(self._waiting) < len(active) and left > _GROUP_SLACK:
            self._timer = loop.call_later(left, self._on_timer)
            return
        self._flush()

    def _flush(self) -> None:
        """Batch mode, on the event loop: write every event of the batch, settle its requests.

        If another process holds the store's write lock, nothing is written and
        the batch waits (with whatever arrives meanwhile) for a later loop
        iteration: the loop keeps serving requests instead of sleeping in the
        store's busy handler. After ``_BUSY_LIMIT`` seconds the requests fail.
        """
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        batch, self._pending = self._pending, []
        if self._waiting:  # answered now, so likely to send again soon: active from now on
            now = asyncio.get_running_loop().time()
            active = self._active
            for connection in self._waiting:
                active[connection] = now
            self._waiting = set()
        self._blind = False
        if not batch:
            return
        events = [event for event, _, _ in batch]
        try:
            if self._nowait:
                self.sink.append_many(events, wait=False)
            else:
                self.sink.append_many(events)
            outcomes: list[BaseException | None] = [None] * len(events)
        except AuditBusy as exc:
            loop = asyncio.get_running_loop()
            now = loop.time()
            self._busy_since = self._busy_since or now
            if now - self._busy_since < _BUSY_LIMIT:
                self._pending[:0] = batch  # keep arrival order: the oldest events first
                self._timer = loop.call_later(_BUSY_RETRY * (0.5 + random.random()), self._flush)
                return
            outcomes = [exc] * len(events)
        except Exception:
            outcomes = self._write_each(events)
        self._busy_since = 0.0
        _settle(batch, outcomes)

    def _run(self) -> None:
        """Thread mode: write whatever has queued up, wake its requests, repeat."""
        get, get_nowait = self._queue.get, self._queue.get_nowait
        stop = False
        while not stop:
            item = get()
            if item is None:
                return
            batch = [item]
            while len(batch) < _MAX_BATCH:
                try:
                    more = get_nowait()
                except queue.Empty:
                    break
                if more is None:
                    stop = True
                    break
                batch.append(more)
            outcomes = self._write([event for event, _, _ in batch])
            for loop in {loop for _, _, loop in batch}:
                with contextlib.suppress(RuntimeError):  # a closed loop: nobody waits any more
                    loop.call_soon_threadsafe(_settle, batch, outcomes)

    def _write(self, events: list[Mapping[str, Any]]) -> list[BaseException | None]:
        many = getattr(self.sink, "append_many", None)
        if many is not None:
            try:
                many(events)
                return [None] * len(events)
            except Exception:
                pass
        return self._write_each(events)

    def _write_each(self, events: list[Mapping[str, Any]]) -> list[BaseException | None]:
        outcomes: list[BaseException | None] = []
        for event in events:
            try:
                self.sink.append(event)
                outcomes.append(None)
            except Exception as exc:
                outcomes.append(exc)
        return outcomes


def _settle(batch: list[_Item], outcomes: list[BaseException | None]) -> None:
    """On the event loop: wake every request of this loop whose event was in ``batch``."""
    loop = asyncio.get_running_loop()
    for (_, future, owner), outcome in zip(batch, outcomes, strict=True):
        if owner is not loop or future.done():
            continue
        if outcome is None:
            future.set_result(None)
        else:
            future.set_exception(outcome)
