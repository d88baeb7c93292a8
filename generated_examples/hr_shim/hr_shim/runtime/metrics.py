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

Label children are cached in plain dicts, so the per-request cost is a dict
lookup and an increment instead of prometheus-client's label validation.

Several uvicorn workers: set ``PROMETHEUS_MULTIPROC_DIR`` to an empty, writable
directory before the workers start (``<pkg> serve --workers N`` does this
itself); each worker then writes its samples there and ``/metrics`` on any
worker reports the sum over all workers. The variable must be set before
``prometheus_client`` is first imported, which is why the CLI sets it.

``/metrics`` answers without authentication: expose it only on the cluster's
internal network (e.g. do not route it through the public ingress).
"""

from __future__ import annotations

import os
from typing import Final

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    PlatformCollector,
    ProcessCollector,
    generate_latest,
)
from prometheus_client.multiprocess import MultiProcessCollector

__all__ = ["CONTENT_TYPE", "NO_GROUP", "Metrics"]

CONTENT_TYPE: Final = CONTENT_TYPE_LATEST
NO_GROUP: Final = "none"
_BUCKETS: Final = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class Metrics:
    """The shim's metric families in a registry of their own.

    A registry per app (instead of prometheus-client's global one) lets tests
    and one process build several apps without duplicate-metric errors.
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
        self._request_children: dict[tuple[str, str, int], Counter] = {}
        self._record_children: dict[tuple[str, str], Counter] = {}
        self._latency_children: dict[str, Histogram] = {}

    def request(self, route: str, group: str | None, status: int, seconds: float) -> None:
        """Count one response and observe its latency."""
        key = (route, group or NO_GROUP, status)
        child = self._request_children.get(key)
        if child is None:
            child = self._requests.labels(key[0], key[1], str(status))
            self._request_children[key] = child
        child.inc()
        hist = self._latency_children.get(route)
        if hist is None:
            hist = self._latency.labels(route)
            self._latency_children[route] = hist
        hist.observe(seconds)

    def records(self, direction: str, group: str | None, count: int) -> None:
        """Count ``count`` records translated in ``direction`` for ``group``."""
        key = (direction, group or NO_GROUP)
        child = self._record_children.get(key)
        if child is None:
            child = self._records.labels(*key)
            self._record_children[key] = child
        child.inc(count)

    def audit_failure(self) -> None:
        self._audit_failures.inc()

    def rate_limited(self, group: str | None) -> None:
        self._rate_limited.labels(group or NO_GROUP).inc()

    def exposition(self) -> bytes:
        """The text exposition format; in multiprocess mode, summed over all workers."""
        if self.multiproc_dir is None:
            return generate_latest(self.registry)
        registry = CollectorRegistry()
        MultiProcessCollector(registry, path=self.multiproc_dir)  # type: ignore[no-untyped-call]
        return generate_latest(registry)
