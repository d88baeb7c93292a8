"""Prometheus metrics for the shim, cheap enough to record on every request.

Metric families (all prefixed ``shim_``):

* ``shim_requests_total{route, group, status}``: every response; ``route`` is the
  route *template* (``GET /customers/{customerId}``), never a concrete path, and
  ``group`` is ``none`` until the caller's group has been accepted, so neither
  label can be inflated by a caller.
* ``shim_records_total{direction, group}``: records translated successfully.
* ``shim_request_duration_seconds{route}``: latency histogram.
* ``shim_audit_failures_total``: audit appends that failed (each a 503).
* ``shim_rate_limited_total{group}``: requests refused with 429.
* ``shim_audit_checkpoint_seq{chain}`` and ``shim_audit_checkpoint_timestamp_seconds{chain}``:
  seq and time of each audit chain's last signed checkpoint (see
  :mod:`.audit_checkpoint`), a copy outside the audit store: a chain that
  is shorter in the store than here was cut. ``shim_audit_checkpoint_failures_total``
  counts checkpoints that could not be written to the checkpoint file.
* ``shim_grant_break_glass_total{group}``: break-glass grants taken (each also an
  audit event and a WARNING log line): alert on any increase. Exported at 0 from
  the start for every group that allows break-glass, so the first one is an increase.
* ``shim_shared_store_up`` (only with ``SHIM_SHARED_STORE_URL``): 1 while the
  shared store answers, 0 while this process falls back to its own rate limits
  and tracking counts (the lowest over the live workers); ``shim_shared_store_fallbacks_total``
  counts the rate-limit checks decided locally because the store was down.

The per-request cost is plain Python: :meth:`Metrics.request` adds one to a
latency bucket and the duration to a sum in a list kept per ``(route, group,
status)``, :meth:`Metrics.records` adds to an int. :meth:`Metrics.flush` moves
what was added since the last flush into the prometheus-client metrics; it
runs before every exposition, every :data:`FLUSH_INTERVAL` seconds while the
app runs (started by the app's lifespan, so other workers' ``/metrics`` see
this worker's counts at most that late), at shutdown and at interpreter exit.

Several uvicorn workers: set ``PROMETHEUS_MULTIPROC_DIR`` to an empty, writable
directory before the workers start (``<pkg> serve --workers N`` does this
itself); each worker then writes its samples there and ``/metrics`` on any
worker reports the sum over all workers. The variable must be set before
``prometheus_client`` is first imported, which is why the CLI sets it.

* ``shim_detections_total{caller, kind}``: heuristic-tracking incidents opened
  (:mod:`.tracking`). ``caller`` is the audit trail's identity for the first
  :data:`MAX_CALLER_LABELS` callers that had one in this process and ``other``
  after that, so JWT subjects cannot grow the series without bound.

``/metrics`` answers without authentication: expose it only on the cluster's
internal network (e.g. do not route it through the public ingress).
"""

from __future__ import annotations

import asyncio
import atexit
import os
import threading
import weakref
from bisect import bisect_left
from collections.abc import Iterable
from typing import Final

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    PlatformCollector,
    ProcessCollector,
    generate_latest,
)
from prometheus_client.multiprocess import MultiProcessCollector

__all__ = ["CONTENT_TYPE", "FLUSH_INTERVAL", "NO_GROUP", "Metrics"]

CONTENT_TYPE: Final = CONTENT_TYPE_LATEST
NO_GROUP: Final = "none"
FLUSH_INTERVAL: Final = 0.25  # seconds between flushes while the app runs
_BUCKETS: Final = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
# A request cell: a count per bucket (bisect_left finds the first bound >= the value, like
# prometheus-client's `value <= bound`; index len(_BUCKETS) is +Inf), then the sum of durations.
_SUM: Final = len(_BUCKETS) + 1
MAX_CALLER_LABELS: Final = 100

_live: weakref.WeakSet[Metrics] = weakref.WeakSet()


@atexit.register
def _flush_all() -> None:
    """Counts of a process that exits without a last exposition still reach the multiprocess files."""
    for metrics in list(_live):
        metrics.flush()


class Metrics:
    """The shim's metric families in a registry of their own.

    A registry per app (instead of prometheus-client's global one) lets tests
    and one process build several apps without duplicate-metric errors.

    Cells only ever grow; a flush adds the difference to what the previous
    flush saw, under a lock, so neither a concurrent flush nor an increment
    during one is counted twice or lost.
    """

    def __init__(self) -> None:
        # Read like prometheus-client does: its value class was chosen at import from the same
        # variable, so the two always agree.
        self.multiproc_dir = os.environ.get("PROMETHEUS_MULTIPROC_DIR") or None
        self.registry = CollectorRegistry(auto_describe=True)
        if self.multiproc_dir is None:
            ProcessCollector(registry=self.registry)
            PlatformCollector(registry=self.registry)
        reg = self.registry
        self._requests = Counter(
            "shim_requests", "HTTP responses sent", ["route", "group", "status"], registry=reg
        )
        self._records = Counter(
            "shim_records", "Records translated", ["direction", "group"], registry=reg
        )
        self._latency = Histogram(
            "shim_request_duration_seconds",
            "Time from request to response",
            ["route"],
            buckets=_BUCKETS,
            registry=reg,
        )
        self._audit_failures = Counter(
            "shim_audit_failures", "Audit records that could not be written", registry=reg
        )
        self._rate_limited = Counter(
            "shim_rate_limited", "Requests refused by the rate limiter", ["group"], registry=reg
        )
        # "max": one series per chain (a chain is one process's), kept after the process ends.
        self._checkpoint_seq = Gauge(
            "shim_audit_checkpoint_seq",
            "Seq of the audit chain's last signed checkpoint",
            ["chain"],
            registry=reg,
            multiprocess_mode="max",
        )
        self._checkpoint_time = Gauge(
            "shim_audit_checkpoint_timestamp_seconds",
            "Time of the audit chain's last signed checkpoint",
            ["chain"],
            registry=reg,
            multiprocess_mode="max",
        )
        self._checkpoint_failures = Counter(
            "shim_audit_checkpoint_failures",
            "Audit checkpoints that could not be written to the checkpoint file",
            registry=reg,
        )
        self._break_glass = Counter(
            "shim_grant_break_glass",
            "Break-glass grants taken (elevated access without approval)",
            ["group"],
            registry=reg,
        )
        self._detections = Counter(
            "shim_detections",
            "Heuristic-tracking incidents opened, by caller and kind",
            ["caller", "kind"],
            registry=reg,
        )
        self._caller_labels: set[str] = set()
        # made by the first shared_store() call: without a store neither series exists
        self._store_up: Gauge | None = None
        self._store_fallbacks: Counter | None = None
        self._lock = threading.Lock()
        # hot path: key -> cell; flush: (cell, values at the last flush, children)
        self._request_cells: dict[tuple[str, str, int], list[float]] = {}
        self._record_cells: dict[tuple[str, str], list[int]] = {}
        self._request_flush: list[tuple[list[float], list[float], Counter, Histogram]] = []
        self._record_flush: list[tuple[list[int], list[int], Counter]] = []
        self._timer: asyncio.TimerHandle | None = None
        _live.add(self)

    def request(self, route: str, group: str | None, status: int, seconds: float) -> None:
        """Count one response and observe its latency."""
        cell = self._request_cells.get((route, group or NO_GROUP, status))
        if cell is None:
            cell = self._new_request_cell(route, group or NO_GROUP, status)
        cell[bisect_left(_BUCKETS, seconds)] += 1
        cell[_SUM] += seconds

    def records(self, direction: str, group: str | None, count: int) -> None:
        """Count ``count`` records translated in ``direction`` for ``group``."""
        cell = self._record_cells.get((direction, group or NO_GROUP))
        if cell is None:
            cell = self._new_record_cell(direction, group or NO_GROUP)
        cell[0] += count

    def _new_request_cell(self, route: str, group: str, status: int) -> list[float]:
        key = (route, group, status)
        with self._lock:
            cell = self._request_cells.get(key)
            if cell is None:  # children now, so their _created is the first request's time
                counter = self._requests.labels(route, group, str(status))
                histogram = self._latency.labels(route)
                cell = [0] * _SUM + [0.0]
                self._request_flush.append((cell, cell.copy(), counter, histogram))
                self._request_cells[key] = cell
            return cell

    def _new_record_cell(self, direction: str, group: str) -> list[int]:
        key = (direction, group)
        with self._lock:
            cell = self._record_cells.get(key)
            if cell is None:
                counter = self._records.labels(direction, group)
                cell = [0]
                self._record_flush.append((cell, [0], counter))
                self._record_cells[key] = cell
            return cell

    def flush(self) -> None:
        """Add everything counted since the last flush to the prometheus-client metrics."""
        with self._lock:
            for cell, done, counter, histogram in self._request_flush:
                if cell == done:
                    continue
                now = cell.copy()
                buckets = histogram._buckets  # what Histogram.observe increments
                count = 0
                for i in range(_SUM):
                    added = now[i] - done[i]
                    if added:
                        buckets[i].inc(added)
                        count += int(added)
                histogram._sum.inc(now[_SUM] - done[_SUM])
                counter.inc(count)
                done[:] = now
            for rcell, rdone, rcounter in self._record_flush:
                added = rcell[0] - rdone[0]
                if added:
                    rcounter.inc(added)
                    rdone[0] += added

    def start_flushing(self, interval: float = FLUSH_INTERVAL) -> None:
        """Flush every ``interval`` seconds on the running event loop until :meth:`stop_flushing`."""
        loop = asyncio.get_running_loop()
        self.stop_flushing()

        def tick() -> None:
            self._timer = loop.call_later(interval, tick)  # first, so an error cannot stop it
            self.flush()

        self._timer = loop.call_later(interval, tick)

    def stop_flushing(self) -> None:
        """Stop the periodic flush and flush once more."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self.flush()

    def audit_failure(self) -> None:
        self._audit_failures.inc()

    def checkpoint(self, chain: str, seq: int, unix_time: float, written: bool) -> None:
        """Publish an audit checkpoint's seq and time (called once per interval, not per request)."""
        self._checkpoint_seq.labels(chain).set(seq)
        self._checkpoint_time.labels(chain).set(unix_time)
        if not written:
            self._checkpoint_failures.inc()

    def shared_store(self, up: bool) -> None:
        """The shared store answers (``up``) or not; called at start and when that changes."""
        if self._store_up is None:
            self._store_up = Gauge(
                "shim_shared_store_up",
                "1 while the shared rate-limit store answers, 0 while limits are per process",
                registry=self.registry,
                multiprocess_mode="livemin",
            )
            self._store_fallbacks = Counter(
                "shim_shared_store_fallbacks",
                "Rate-limit checks decided by the local limiter because the shared store was down",
                registry=self.registry,
            )
        self._store_up.set(1 if up else 0)

    def shared_store_fallback(self) -> None:
        if self._store_fallbacks is not None:
            self._store_fallbacks.inc()

    def break_glass_groups(self, groups: Iterable[str]) -> None:
        """Export ``shim_grant_break_glass_total`` at 0 for each group that allows break-glass.

        The alert fires on ``increase()``, which needs a sample before the rise: a series
        made by the first break-glass grant would start at 1 and that grant, the one that
        matters, would never alert. Made at start, each series exists from the first scrape.
        """
        for group in groups:
            self._break_glass.labels(group)

    def break_glass(self, group: str) -> None:
        self._break_glass.labels(group).inc()

    def detection(self, caller: str, kind: str) -> None:
        """One incident opened (rare: not on the per-request path)."""
        labels = self._caller_labels
        if caller not in labels and len(labels) >= MAX_CALLER_LABELS:
            caller = "other"
        else:
            labels.add(caller)
        self._detections.labels(caller, kind).inc()

    def rate_limited(self, group: str | None) -> None:
        self._rate_limited.labels(group or NO_GROUP).inc()

    def exposition(self) -> bytes:
        """The text exposition format; in multiprocess mode, summed over all workers."""
        self.flush()
        if self.multiproc_dir is None:
            return generate_latest(self.registry)
        registry = CollectorRegistry()
        MultiProcessCollector(registry, path=self.multiproc_dir)  # type: ignore[no-untyped-call]
        return generate_latest(registry)
