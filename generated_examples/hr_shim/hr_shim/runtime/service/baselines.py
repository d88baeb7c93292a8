"""Per-caller baselines for heuristic tracking: bounded memory, math only at a window's end.

A baseline must answer "is this window unusual for this caller?" for every
caller the shim has seen, so each one is a fixed-size summary, never a list of
past windows:

* :class:`LogHistogram`: how many of a caller's active windows had a count in
  each geometric bucket (ratio 1.25, so a quantile is known to within 25 %,
  which is plenty for a threshold that is a multiple of it). When it holds more
  than :data:`HISTORY` windows every count is halved, so old behaviour fades
  (about a week of active minutes) and a caller's normal can move.
* :class:`HourOfWeek`: in how many distinct hours each of the 168 UTC
  hours-of-week was used; an hour is *usual* when it or a neighbour was used.

Both are read once per window roll (:mod:`.tracking` precomputes thresholds
then), so the per-request path only compares a counter with a number.
"""

from __future__ import annotations

import math
from array import array
from typing import TYPE_CHECKING, Any, Final

if TYPE_CHECKING:
    from .incidents import Incident, TrackingConfig

__all__ = ["HISTORY", "HOURS_OF_WEEK", "CallerState", "HourOfWeek", "LogHistogram", "hour_of_week"]

RATIO: Final = 1.25
BUCKETS: Final = 80  # 1.25**79 is about 4.6e7: more records per window than any shim serves
HISTORY: Final = 10_080  # active windows kept at full weight (a week of minutes), then halved
HOURS_OF_WEEK: Final = 168
_LOG_RATIO: Final = math.log(RATIO)
_UPPER: Final = tuple(
    RATIO**b for b in range(BUCKETS)
)  # bucket b >= 1 holds [1.25**(b-1), 1.25**b)


def _bucket(value: float) -> int:
    if value < 1:
        return 0
    return min(BUCKETS - 1, 1 + int(math.log(value) / _LOG_RATIO))


class LogHistogram:
    """Counts of per-window values in geometric buckets; bucket 0 holds the zeros."""

    __slots__ = ("counts", "sum", "total")

    def __init__(self) -> None:
        self.counts = array("I", bytes(4 * BUCKETS))
        self.total = 0
        self.sum = 0.0  # of the values, halved with the counts: the mean is sum / total

    def add(self, value: float) -> None:
        """Record one window's value; halve everything once :data:`HISTORY` windows are held."""
        self.counts[_bucket(value)] += 1
        self.total += 1
        self.sum += value
        if self.total > HISTORY:
            counts = self.counts
            for i in range(BUCKETS):
                counts[i] >>= 1
            self.total = sum(counts)
            self.sum /= 2

    def mean(self) -> float:
        return self.sum / self.total if self.total else 0.0

    def quantile(self, q: float) -> float:
        """The upper bound of the bucket holding the ``q`` quantile (0 for none or zeros).

        The upper bound, not the middle: a threshold built on it errs towards
        fewer alarms, which is what a baseline of one noisy caller needs.
        """
        if self.total == 0:
            return 0.0
        rank = q * self.total
        seen = 0
        for b, count in enumerate(self.counts):
            seen += count
            if seen >= rank and count:
                return 0.0 if b == 0 else _UPPER[b]
        return _UPPER[BUCKETS - 1]


def hour_of_week(unix: float) -> int:
    """0..167: the UTC hour of the week (0 is Monday 00:00 UTC)."""
    # 1970-01-01 was a Thursday: shift by three days so that 0 is a Monday.
    return (int(unix // 3600) + 72) % HOURS_OF_WEEK


class HourOfWeek:
    """How many distinct hours each hour-of-week was used in (the caller's rhythm).

    ``last`` holds, per hour-of-week first used after warm-up, the absolute hour
    (``unix // 3600``, plus one; 0: none) of that first use. Such a use is not the
    rhythm's yet: for a week it makes neither its hour nor the hours beside it
    usual. Otherwise each new hour taught the next one: a session that ran on from
    16:00 (usual) made 17:00 usual, which made 18:00 usual, and so on to dawn.
    """

    __slots__ = ("hours", "last")

    def __init__(self) -> None:
        self.hours = array("H", bytes(2 * HOURS_OF_WEEK))
        self.last = array("I", bytes(4 * HOURS_OF_WEEK))

    def used(self, how: int, hour: int | None = None) -> None:
        """The caller used hour-of-week ``how`` (called once per distinct hour; ``hour``:
        the absolute hour it was used in, after warm-up; None during warm-up)."""
        if hour is not None and not self.hours[how]:  # a new hour: usual a week from now
            self.last[how] = hour + 1
        if self.hours[how] < 65_535:
            self.hours[how] += 1

    def unlearn(self, how: int) -> None:
        """Take back this week's use of ``how``: an off-hours incident opened in it."""
        if self.last[how] and self.hours[how]:
            self.hours[how] -= 1
        self.last[how] = 0

    def usual(self, how: int, hour: int | None = None) -> bool:
        """Used in an earlier week in this hour-of-week or the hour either side of it.

        One hour of slack on each side lets a caller start a little early or
        finish a little late without an alarm; a weekday caller on a Sunday,
        or a daytime caller at 3 a.m., is still unusual. With ``hour`` (the
        absolute hour now), a use in the last week does not count.
        """
        hours, last = self.hours, self.last
        for d in (-1, 0, 1):
            x = (how + d) % HOURS_OF_WEEK  # the week wraps
            count = hours[x]
            # this week's use: less than a week before that hour's place in this week
            if count and hour is not None and last[x] and hour + d + 1 - last[x] < HOURS_OF_WEEK:
                count -= 1
            if count:
                return True
        return False


class CallerState:
    """One caller's windows, baselines and open incidents (here, so :mod:`.tracking` stays short)."""

    __slots__ = (
        "cur_err", "cur_ids", "cur_pii", "cur_rej", "cur_req", "cur_secret", "cur_vol", "cur_vreq", "end",
        "first", "groups", "h_err", "h_ids", "h_rej", "h_vol", "h_vreq", "hour", "hour_requests",
        "hour_unusual", "hourly", "o_err", "o_ids", "o_rej", "o_req", "o_vol", "o_vreq", "open",
        "pending", "prev_err", "prev_ids", "prev_rej", "prev_req",
        "prev_vol", "prev_vreq", "requests", "routes", "seen", "start", "t_enum", "t_err", "t_rej",
        "t_vmean", "t_vol", "t_vreq", "tainted", "warm",
    )  # fmt: skip

    def __init__(self, now: float, window: float, config: TrackingConfig) -> None:
        self.first = self.seen = self.start = now
        self.end = now + window
        self.requests = 0
        self.warm = False
        self.cur_vol = self.cur_pii = self.cur_secret = self.cur_err = self.cur_req = 0
        self.cur_rej = self.cur_vreq = 0
        self.cur_ids: set[int] = set()
        self.prev_vol = self.prev_ids = self.prev_err = self.prev_req = self.prev_rej = 0
        self.prev_vreq = 0
        # the other workers' share of this window (shared store, .shared_tracking; else 0)
        # and the ids this worker has not pushed yet (None: local)
        self.o_vol = self.o_vreq = self.o_ids = self.o_err = self.o_req = self.o_rej = 0
        self.pending: list[Any] | None = None
        self.h_vol, self.h_vreq, self.h_ids, self.h_err, self.h_rej = (
            LogHistogram() for _ in range(5)
        )
        self.hourly = HourOfWeek()
        self.hour = -1
        self.hour_requests = 0
        self.hour_unusual = False
        self.routes: set[str] = set()
        self.groups: set[str] = set()
        self.open: dict[str, Incident] = {}
        # kinds with an incident open at some time in this window, closed since or not:
        # the window is not learnt for them (the caller's next request rolls it, and by
        # then a sweep or the gate may have closed the incident)
        self.tainted: set[str] = set()
        self.t_vol = self.t_vmean = self.t_vreq = self.t_enum = math.inf
        self.t_err = config.probing_floor
        self.t_rej = config.rejection_floor
