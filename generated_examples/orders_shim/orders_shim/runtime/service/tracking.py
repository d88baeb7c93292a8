"""Heuristic tracking: per-caller baselines, detections, incidents (DESIGN.md, Access).

:class:`Tracker` is a pure component: it is fed one observation per
authenticated request (:meth:`Tracker.observe`, called by ``Shim.audit``, so
refusals count too) with the time passed in, and answers with the incidents
that opened or closed. It does no I/O; the pipeline writes the incident events
into the audit chain, counts them in ``shim_detections_total``, logs them and
applies the effects. ``bench/anomaly.py`` drives the very same class with a
simulated clock.

Kinds (the names used in code, metric labels, the mapping's ``tracking:``, docs;
the thresholds are in the generating project's ``docs/access.md``): ``volume``
(records of a pii- or secret-carrying view), ``enumeration`` (distinct path
parameters of proxy routes), ``first-use`` (a new route or group), ``probing``
(401/403/422 answers; a 404 of the grant endpoints, a proxy path value that names
nothing and a body naming a member twice count as a 403), ``mass-assignment`` (inbound rejections: a 422 on a
request with a body), ``off-hours`` (an hour-of-week never used, nor either
neighbour).

Counters are kept **per caller**, summed over its groups and routes, so spreading
an enumeration or an export over several groups or routes does not hide it;
the incident names the group and route of the request that crossed the line.
Windows are the caller's own, ``window`` seconds long, and a count is compared
as a sliding estimate (this window plus the unexpired share of the last one), so
an attack is seen as soon as it crosses the threshold, not at the next roll.

Warm-up: until a caller has ``warmup_seconds`` of history *and*
``warmup_requests`` requests, volume, enumeration, first-use and off-hours do
not fire (there is no baseline yet); probing and mass-assignment use their
floors alone. Warm-up and baselines survive a restart (:mod:`.tracking_store`
keeps them beside the audit trail). Baselines learn only from windows in which no incident of that
kind was open at any time (closed since or not), so an attack does not teach
itself normal.

Incidents: at most one open per caller and kind; it opens when a detection
fires and closes once the condition has been quiet for ``quiet`` seconds
(checked at the caller's window roll, at its next gate check, and by a sweep
of open incidents once a window). Effects rank log < flag < throttle < deny;
each includes the ones before it (a deny is also flagged and logged).

Cost per request: a dict lookup, a few integer additions and comparisons;
quantiles are computed once per caller and window. Memory: ``max_callers``
callers (the least recently seen without an open incident are evicted, 10 %
at a time), each with four 80-bucket histograms, 168 hour counts, the routes
and groups it used, and at most ``max_ids`` hashed ids of the current window.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Iterable, Mapping
from typing import Any, Final

from .baselines import CallerState, hour_of_week
from .incidents import (
    EFFECTS,
    KINDS,
    Change,
    Incident,
    TrackingConfig,
    evidence_of,
    incident_event,
)

__all__ = [
    "EFFECTS",
    "KINDS",
    "Change",
    "Incident",
    "Tracker",
    "TrackingConfig",
    "incident_event",
]

_RANK: Final = {effect: i for i, effect in enumerate(EFFECTS)}
PROBE_STATUSES: Final = frozenset({401, 403, 422})
_NONE: Final[tuple[Change, ...]] = ()


class Tracker:
    """Detections over every caller the service has seen (see the module docstring).

    ``effects`` maps a kind to its effect (default ``log``); ``classes_out`` maps
    a group to the sensitive classifications (``pii``, ``secret``) a record in
    that group's view carries. ``flags`` (caller -> ``Shim-Flag`` value) and
    ``enforced`` (caller -> ``throttle`` or ``deny``) hold only callers with
    such an incident open, so the request path pays one dict lookup for them.
    """

    def __init__(
        self,
        config: TrackingConfig,
        effects: Mapping[str, str] | None = None,
        classes_out: Mapping[str, tuple[str, ...]] | None = None,
    ) -> None:
        self.config = config
        self.window = config.window
        self.quiet = config.window if config.quiet is None else config.quiet
        self.effects = {kind: "log" for kind in KINDS}
        for kind, effect in (effects or {}).items():
            if kind not in KINDS or effect not in EFFECTS:
                raise ValueError(f"tracking: unknown kind or effect for {kind!r}")
            self.effects[kind] = effect
        self.classes_out = {g: c for g, c in (classes_out or {}).items() if c}
        self.callers: dict[str, CallerState] = {}
        self.open_callers: set[str] = set()
        self.flags: dict[str, str] = {}
        self.enforced: dict[str, str] = {}
        # caller -> (throttle or deny, until: epoch seconds) that an incident open on another
        # worker enforces (shared store only, refreshed by .shared_tracking every push, and
        # kept to its end while the store cannot be read)
        self.remote: dict[str, tuple[str, float]] = {}
        self.next_sweep = 0.0
        # callers whose baselines changed since .tracking_store last saved them
        self.dirty: set[str] = set()
        self.shared = (
            False  # set by .shared_tracking: windows on the epoch's grid, ids kept to push
        )
        self._prefix = os.urandom(4).hex()
        self._ids = itertools.count(1)

    # -- the request path ------------------------------------------------------------

    def observe(
        self,
        caller: str,
        group: str | None,
        route: str | None,
        records_out: int,
        status: int,
        rejected: bool,
        ids: Iterable[Any] | None,
        now: float,
    ) -> tuple[Change, ...]:
        """Count one authenticated request; the incidents it opened or closed (usually none)."""
        st = self.callers.get(caller)
        if st is None:
            st = self.adopt(caller, now)
        changes: list[Change] | None = None
        if now >= st.end:
            changes = self._roll(caller, st, now)
        if now >= self.next_sweep:
            changes = (changes or []) + self.sweep(now)
        st.requests += 1
        st.seen = now
        st.cur_req += 1
        weight = (st.end - now) / self.window  # the unexpired share of the last window
        hour = int(now // 3600)
        if hour != st.hour:
            how = hour_of_week(now)
            st.hour = hour
            st.hour_unusual = st.warm and not st.hourly.usual(how, hour)
            st.hourly.used(how, hour if st.warm else None)
            st.hour_requests = 0
            self.dirty.add(caller)
        st.hour_requests += 1
        if st.hour_unusual and st.hour_requests >= self.config.offhours_min:
            if st.hour_requests == self.config.offhours_min:  # an attack teaches nothing:
                st.hourly.unlearn(hour_of_week(now))  # the hour stays unusual next week
            changes = self._fire(
                changes, caller, st, "off-hours", group, route, now, st.hour_requests, 0.0
            )
        if route is not None and route not in st.routes:
            st.routes.add(route)
            self.dirty.add(caller)
            if st.warm:
                changes = self._fire(changes, caller, st, "first-use", group, route, now, 1.0, 0.0)
        if group is not None and group not in st.groups:
            st.groups.add(group)
            self.dirty.add(caller)
            if st.warm:
                changes = self._fire(changes, caller, st, "first-use", group, route, now, 1.0, 0.0)
        if records_out:
            classes = self.classes_out.get(group) if group is not None else None
            if classes:
                st.cur_vol += records_out
                st.cur_vreq += 1
                if "pii" in classes:
                    st.cur_pii += records_out
                if "secret" in classes:
                    st.cur_secret += records_out
                seen = st.cur_vol + st.o_vol + st.prev_vol * weight
                # a burst far over the caller's p99, or many more requests than usual
                # carrying several times its mean (sustained export through small pages)
                if seen > st.t_vol or (
                    seen > st.t_vmean
                    and st.cur_vreq + st.o_vreq + st.prev_vreq * weight > st.t_vreq
                ):
                    changes = self._fire(
                        changes, caller, st, "volume", group, route, now, seen, st.t_vol
                    )
        if ids:
            distinct = st.cur_ids
            pending = st.pending
            if len(distinct) >= self.config.max_ids:
                pass
            elif pending is None:
                for value in ids:
                    distinct.add(hash(value))
            else:  # shared: new ids are kept for the next push (hash() is per process)
                for value in ids:
                    h = hash(value)
                    if h not in distinct:
                        distinct.add(h)
                        pending.append(value)
            seen = len(distinct) + st.o_ids + st.prev_ids * weight
            if seen > st.t_enum:
                changes = self._fire(
                    changes, caller, st, "enumeration", group, route, now, seen, st.t_enum
                )
        if status in PROBE_STATUSES:
            st.cur_err += 1
            seen = st.cur_err + st.o_err + st.prev_err * weight
            if seen >= st.t_err and (
                seen >= self.config.probing_share * (st.cur_req + st.o_req + st.prev_req * weight)
                or seen >= self.config.probing_ceiling * st.t_err
            ):
                changes = self._fire(
                    changes, caller, st, "probing", group, route, now, seen, st.t_err
                )
        if rejected:
            st.cur_rej += 1
            seen = st.cur_rej + st.o_rej + st.prev_rej * weight
            if seen >= st.t_rej:
                changes = self._fire(
                    changes, caller, st, "mass-assignment", group, route, now, seen, st.t_rej
                )
        return _NONE if changes is None else tuple(changes)  # fmt: skip

    def enforcement(self, caller: str, now: float) -> tuple[str | None, tuple[Change, ...]]:
        """``deny``, ``throttle`` or None for ``caller`` now, after closing its quiet incidents.

        Refused requests are not observed, so a denied caller's incident closes
        once it has been quiet for ``quiet`` seconds, and the next request is let in.
        With a shared store an incident open on another worker counts too (``remote``),
        until the end it was published with.
        """
        st = self.callers.get(caller)
        closed = self._close_quiet(caller, st, now) if st is not None else []
        return self.effect(caller, now), tuple(closed)

    def effect(self, caller: str, now: float) -> str | None:
        """The stronger of ``caller``'s own effect in force and one published by another
        worker (``remote``, until the end it was published with); no incident is closed."""
        effect = self.enforced.get(caller)
        held = self.remote.get(caller)
        if held is not None:
            remote, until = held
            if now >= until:  # lapsed between two shares
                del self.remote[caller]
            elif effect is None or _RANK[remote] > _RANK[effect]:
                effect = remote
        return effect

    # -- windows, incidents ----------------------------------------------------------

    def adopt(self, caller: str, now: float) -> CallerState:
        """A fresh state for ``caller`` (its first request, or saved baselines to restore)."""
        if len(self.callers) >= self.config.max_callers:
            self._evict()
        st = self.callers[caller] = CallerState(now, self.window, self.config)
        if self.shared:  # every worker's window of a caller is the same one: its key in the store
            st.start = now // self.window * self.window
            st.end = st.start + self.window
            st.pending = []
        return st

    def _evict(self) -> None:
        """Drop the least recently seen tenth of the callers that have no open incident."""
        idle = sorted(
            (st.seen, name) for name, st in self.callers.items() if name not in self.open_callers
        )
        for _, name in idle[: max(1, len(self.callers) // 10)]:
            del self.callers[name]

    def _roll(self, caller: str, st: CallerState, now: float) -> list[Change]:
        """End the caller's window: baselines learn it, thresholds are recomputed, quiet incidents close."""
        window = self.window
        # the window's counts: this worker's plus, with a shared store, the others' last known
        vol, vreq, ids = st.cur_vol + st.o_vol, st.cur_vreq + st.o_vreq, len(st.cur_ids) + st.o_ids
        err, req, rej = st.cur_err + st.o_err, st.cur_req + st.o_req, st.cur_rej + st.o_rej
        if st.cur_req:  # only active windows make a baseline
            self.dirty.add(caller)
            opened = st.tainted  # every kind open now was open in this window too
            if "volume" not in opened:
                st.h_vol.add(vol)
                st.h_vreq.add(vreq)
            if "enumeration" not in opened:
                st.h_ids.add(ids)
            if "probing" not in opened:
                st.h_err.add(err)
            if "mass-assignment" not in opened:
                st.h_rej.add(rej)
        passed = int((now - st.start) // window)
        if passed == 1:
            st.prev_vol, st.prev_vreq, st.prev_ids = vol, vreq, ids
            st.prev_err, st.prev_req, st.prev_rej = err, req, rej
        else:
            st.prev_vol = st.prev_ids = st.prev_err = st.prev_req = st.prev_rej = 0
            st.prev_vreq = 0
        st.cur_vol = st.cur_pii = st.cur_secret = st.cur_err = st.cur_req = st.cur_rej = 0
        st.cur_vreq = 0
        st.cur_ids = set()
        st.tainted = set(st.open)
        if st.pending is not None:
            st.o_vol = st.o_vreq = st.o_ids = st.o_err = st.o_req = st.o_rej = 0
            st.pending = []
        st.start += passed * window
        st.end = st.start + window
        self.rearm(st, now)
        return self._close_quiet(caller, st, now)

    def rearm(self, st: CallerState, now: float) -> None:
        """Warm or not, and the thresholds from the baselines (at a roll, or once restored)."""
        config = self.config
        st.warm = now - st.first >= config.warmup_seconds and st.requests >= config.warmup_requests
        factor = config.factor
        if st.warm:
            st.t_vol = max(config.volume_floor, factor * st.h_vol.quantile(0.99))
            st.t_vmean = max(
                config.volume_sustained_floor, config.volume_mean_factor * st.h_vol.mean()
            )
            st.t_vreq = max(
                config.volume_requests_floor,
                config.volume_requests_factor * st.h_vreq.quantile(0.99),
            )
            st.t_enum = max(config.enumeration_floor, factor * st.h_ids.quantile(0.99))
            st.t_err = max(config.probing_floor, factor * st.h_err.quantile(0.99))
            st.t_rej = max(config.rejection_floor, factor * st.h_rej.quantile(0.99))

    def _fire(
        self,
        changes: list[Change] | None,
        caller: str,
        st: CallerState,
        kind: str,
        group: str | None,
        route: str | None,
        now: float,
        seen: float,
        threshold: float,
    ) -> list[Change] | None:
        """The condition holds: refresh the open incident of this kind, or open one.

        An off-hours incident holds until its hour is over (the condition is the
        hour itself), so a slow session at 3 a.m. is one incident, not one a minute.
        """
        held = now
        if kind == "off-hours":
            held = max(now, (st.hour + 1) * 3600 - self.quiet)
        incident = st.open.get(kind)
        if incident is not None:
            incident.last = max(incident.last, held)
            return changes
        incident = Incident(
            f"{self._prefix}-{next(self._ids):x}", caller, kind, self.effects[kind], group, route,
            now, held, evidence_of(st, kind, seen, threshold, now, self.window),
        )  # fmt: skip
        st.open[kind] = incident
        st.tainted.add(kind)
        self.open_callers.add(caller)
        self._effects_of(caller, st)
        change = Change("incident-opened", incident, now)
        if changes is None:
            return [change]
        changes.append(change)
        return changes

    def _close_quiet(self, caller: str, st: CallerState, now: float) -> list[Change]:
        if not st.open:
            return []
        closed = [
            Change("incident-closed", incident, now)
            for incident in st.open.values()
            if now - incident.last >= self.quiet
        ]
        if closed:
            for change in closed:
                del st.open[change.incident.kind]
            if not st.open:
                self.open_callers.discard(caller)
            self._effects_of(caller, st)
        return closed

    def _effects_of(self, caller: str, st: CallerState) -> None:
        """Recompute the caller's ``Shim-Flag`` header and enforcement from its open incidents."""
        flagged = sorted(i.kind for i in st.open.values() if _RANK[i.effect] >= 1)
        if flagged:
            self.flags[caller] = ", ".join(flagged)
        else:
            self.flags.pop(caller, None)
        strongest = max((_RANK[i.effect] for i in st.open.values()), default=0)
        if strongest >= _RANK["throttle"]:
            self.enforced[caller] = EFFECTS[strongest]
        else:
            self.enforced.pop(caller, None)

    def sweep(self, now: float) -> list[Change]:
        """Close quiet incidents of callers that have gone silent (once a window, from observe)."""
        self.next_sweep = now + self.window
        changes: list[Change] = []
        for caller in list(self.open_callers):
            st = self.callers.get(caller)
            if st is not None:
                changes.extend(self._close_quiet(caller, st, now))
        return changes

    def open_incidents(self) -> list[Incident]:
        """Every open incident (tests and the bench read them)."""
        return [i for c in self.open_callers for i in self.callers[c].open.values()]
