"""Heuristic tracking's baselines kept across restarts, beside the audit trail.

Why: a caller's baselines (its usual volume, ids, refusals and rejections per
window, the routes and groups it uses, its hours) live in each worker's memory,
and volume, enumeration, first-use and off-hours stay silent until the caller
has ``SHIM_TRACKING_WARMUP_HOURS`` (a week by default) of history. A restart,
so every deploy, started them over: a shim deployed more often than weekly
never detected those four kinds, and whoever knew when it was deployed knew
when to walk its ids.

So every worker keeps them in a table beside the audit trail, the way grants
are kept (:mod:`.grant_store`, tables of their own): ``tracking_baselines``
(subject, state as JSON, saved) in the PostgreSQL database of a
``postgresql://`` audit URL, or the SQLite file ``PATH.tracking.db`` beside a
``sqlite:///PATH`` or ``jsonl:///PATH`` one. A worker loads the rows when it
starts, before it serves (the most recently saved :attr:`TrackingConfig.max_callers`);
saves every :data:`SAVE_INTERVAL` seconds the callers whose baselines changed
(a window was learnt, a route, group or hour was first used), and once more when
it stops; and drops rows not saved for :data:`KEEP_DAYS` days. The current
window, its ids and open incidents are not kept: the incidents are in the audit
trail, and a window starts afresh.

What is kept is what the tracker learnt from the caller's own traffic, never a
value that crossed: counts in histogram buckets, hour-of-week counts, route
templates and group names. Several workers save the same caller in turn (each
its own view: with a shared store they learn the same global counts); the row
is the last one saved, except that a state with a shorter history (a later
first request) never replaces a longer one: a worker that met the caller only
after it started, or evicted it, would save it cold over its warm row. A store that cannot be read or written is a WARNING,
never a failed start or request: the worker then learns from nothing, as before.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any, Final

import anyio.to_thread
import orjson

from .baselines import BUCKETS, HOURS_OF_WEEK, CallerState, LogHistogram
from .grant_store import GrantDB, GrantStoreError, Tables, open_grant_db
from .logs import exception_fields, logger
from .periodic import Periodic

if TYPE_CHECKING:
    from .tracking import Tracker

__all__ = [
    "KEEP_DAYS", "SAVE_INTERVAL", "TRACKING", "BaselineStore", "dump", "restore", "restore_rows",
]  # fmt: skip

SAVE_INTERVAL: Final = 60.0  # seconds between two saves of a worker
KEEP_DAYS: Final = 30  # a caller not saved for this long is dropped from the table
FORMAT: Final = 1  # the state's "v"; a row of another format is skipped
TRACKING: Final = Tables(
    "tracking store",
    ".tracking.db",
    (
        "CREATE TABLE IF NOT EXISTS tracking_baselines (subject TEXT PRIMARY KEY, "
        "state TEXT NOT NULL, saved DOUBLE PRECISION NOT NULL, first DOUBLE PRECISION NOT NULL)",
        # load reads the most recently saved rows, and the retention deletes by age
        "CREATE INDEX IF NOT EXISTS tracking_baselines_saved ON tracking_baselines (saved)",
    ),
    "SELECT pg_advisory_xact_lock(hashtext('shimgen-tracking:' || current_schema()))",
)
_HISTOGRAMS: Final = ("h_vol", "h_vreq", "h_ids", "h_err", "h_rej")
# A state with a shorter history never replaces a longer one: a worker that met the caller
# only after it started (or evicted it) would otherwise save it cold over its warm row. The
# row's `saved` moves either way: the caller is active, so its row is among those loaded and
# kept (frozen at its old time, it fell out of the newest rows and was dropped after 30 days).
_UPSERT: Final = (
    "INSERT INTO tracking_baselines (subject, state, saved, first) VALUES (?, ?, ?, ?) "
    "ON CONFLICT (subject) DO UPDATE SET "
    "state = CASE WHEN excluded.first <= tracking_baselines.first "
    "THEN excluded.state ELSE tracking_baselines.state END, "
    "first = CASE WHEN excluded.first <= tracking_baselines.first "
    "THEN excluded.first ELSE tracking_baselines.first END, "
    "saved = excluded.saved"
)


def dump(st: CallerState) -> str:
    """The caller's baselines as JSON (sparse: only the buckets and hours in use)."""
    state: dict[str, Any] = {
        "v": FORMAT,
        "first": st.first,
        "requests": st.requests,
        "routes": sorted(st.routes),
        "groups": sorted(st.groups),
        "hours": {str(h): n for h, n in enumerate(st.hourly.hours) if n},
        # hours first used after warm-up (absolute hour + 1): usual only a week later
        "recent": {str(h): n for h, n in enumerate(st.hourly.last) if n},
    }
    for name in _HISTOGRAMS:
        h: LogHistogram = getattr(st, name)
        state[name] = {
            "sum": h.sum,
            "counts": {str(b): n for b, n in enumerate(h.counts) if n},
        }
    return orjson.dumps(state).decode()


def restore(st: CallerState, text: str) -> None:
    """Fill ``st`` (fresh) with the baselines ``text`` holds; ValueError if it is not one."""
    try:
        state = orjson.loads(text)
        if not isinstance(state, dict) or state.get("v") != FORMAT:
            raise ValueError("not a baseline of this format")
        first, requests = state["first"], state["requests"]
        if not (_number(first) and _number(requests) and isinstance(requests, int)):
            raise ValueError("first or requests")
        routes, groups = _strings(state["routes"]), _strings(state["groups"])
        hours = _sparse(state["hours"], HOURS_OF_WEEK, 65_535)
        recent = _sparse(state.get("recent", {}), HOURS_OF_WEEK, 2**32 - 1)  # older rows: none
        histograms = []
        for name in _HISTOGRAMS:
            h = state[name]
            if not (isinstance(h, dict) and _number(h["sum"])):
                raise ValueError(name)
            histograms.append((name, h["sum"], _sparse(h["counts"], BUCKETS, 2**32 - 1)))
    except (KeyError, TypeError, orjson.JSONDecodeError) as exc:
        raise ValueError(f"malformed baseline ({type(exc).__name__})") from None
    st.first = min(st.first, float(first))
    st.requests = requests
    st.routes.update(routes)
    st.groups.update(groups)
    for how, n in hours.items():
        st.hourly.hours[how] = n
    for how, n in recent.items():
        st.hourly.last[how] = n
    for name, total_sum, counts in histograms:
        h = getattr(st, name)
        for b, n in counts.items():
            h.counts[b] = n
        h.total = sum(counts.values())
        h.sum = float(total_sum)


def restore_rows(tracker: Tracker, rows: list[tuple[Any, ...]], now: float) -> int:
    """Each ``(subject, state)`` row's baselines into a fresh caller of ``tracker``, oldest
    first (so eviction keeps the newest); malformed rows are skipped with one WARNING."""
    restored, skipped = 0, 0
    for subject, text in reversed(rows):
        if not isinstance(subject, str) or not isinstance(text, str):
            skipped += 1
            continue
        st = tracker.adopt(subject, now)
        try:
            restore(st, text)
        except ValueError:
            del tracker.callers[subject]
            skipped += 1
            continue
        tracker.rearm(st, now)
        restored += 1
    if skipped:
        logger.warning(
            "tracking baselines skipped: not readable",
            extra={"event": "tracking-baselines-skipped"},
        )
    return restored


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and value >= 0


def _strings(value: Any) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ValueError("a list of strings")
    return value


def _sparse(value: Any, size: int, most: int) -> dict[int, int]:
    """``{"index": count}`` with indexes below ``size`` and counts from 1 to ``most``."""
    if not isinstance(value, dict):
        raise ValueError("a map of counts")
    out: dict[int, int] = {}
    for key, n in value.items():
        if not (key.isascii() and key.isdigit() and int(key) < size):
            raise ValueError("an index out of range")
        if not (isinstance(n, int) and not isinstance(n, bool) and 0 < n <= most):
            raise ValueError("a count out of range")
        out[int(key)] = n
    return out


class BaselineStore:
    """Loads a worker's tracker from the table, then saves what changed (module docstring)."""

    def __init__(self, audit_url: str, tracker: Tracker) -> None:
        self.tracker = tracker
        self.db: GrantDB = open_grant_db(audit_url, TRACKING)  # GrantStoreError: no such store
        self._every = Periodic(SAVE_INTERVAL, self.save, "tracking baselines save failed")

    async def load(self, now: float | None = None) -> int:
        """Restore the most recently saved callers; how many. A WARNING if the store fails."""
        limit = self.tracker.config.max_callers
        try:
            rows = await anyio.to_thread.run_sync(
                self.db.read,
                "SELECT subject, state FROM tracking_baselines ORDER BY saved DESC LIMIT ?",
                (limit,),
            )
        except GrantStoreError as exc:
            _warn("tracking baselines could not be loaded; learning from nothing", exc)
            return 0
        return restore_rows(self.tracker, rows, time.time() if now is None else now)

    def snapshot(self) -> list[tuple[str, str, float, float]]:
        """The rows to save now (on the event loop: the tracker is not shared with threads)."""
        tracker = self.tracker
        dirty, tracker.dirty = tracker.dirty, set()
        saved = time.time()
        return [
            (subject, dump(st), saved, st.first)
            for subject in sorted(dirty)
            if (st := tracker.callers.get(subject)) is not None
        ]

    async def save(self) -> int:
        """Write the callers whose baselines changed since the last save; how many."""
        rows = self.snapshot()
        if not rows:
            return 0
        try:
            await anyio.to_thread.run_sync(self._write, rows, rows[0][2] - KEEP_DAYS * 86_400)
        except GrantStoreError as exc:
            self.tracker.dirty.update(row[0] for row in rows)  # the next save tries
            _warn("tracking baselines could not be saved; kept for the next try", exc)
            return 0
        return len(rows)

    def _write(self, rows: list[tuple[str, str, float, float]], older: float) -> None:
        with self.db.exclusive() as run:
            for row in rows:
                run(_UPSERT, row)
            run("DELETE FROM tracking_baselines WHERE saved < ?", (older,))

    # -- the background task ------------------------------------------------------------

    def start(self) -> None:
        self._every.start()

    async def stop(self) -> None:
        """Stop the task, save what changed once more, close the store."""
        await self._every.stop()
        await self.save()
        await anyio.to_thread.run_sync(self.db.close)


def _warn(message: str, exc: Exception) -> None:
    logger.warning(
        message, extra={"event": "tracking-baselines-unavailable", **exception_fields(exc)}
    )
