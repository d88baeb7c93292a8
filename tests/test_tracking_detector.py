"""The heuristic-tracking detector (runtime/service/tracking.py), driven with a simulated clock.

Each kind fires on its attack and not on the caller's normal pattern, warm-up is
respected, an incident opens once and closes after a quiet window, memory stays
bounded, and (property) there is never more than one open incident per caller and
kind, with evidence that is numbers only.
"""

from __future__ import annotations

import calendar
import math
import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shimgen.mapping.model import TrackingEffect, TrackingKind
from shimgen.runtime.audit.events import check_event
from shimgen.runtime.service.baselines import HourOfWeek, LogHistogram, hour_of_week
from shimgen.runtime.service.incidents import (
    EFFECTS,
    KINDS,
    Change,
    TrackingConfig,
    incident_event,
)
from shimgen.runtime.service.tracking import Tracker

MONDAY = float(calendar.timegm((2026, 11, 2, 0, 0, 0)))
DAY = 86_400.0
CLASSES = {"support": ("pii",), "billing": ("pii", "secret"), "plain": ()}
LOOKUP = "GET /customers/{customerId}"


def tracker(**config: float) -> Tracker:
    return Tracker(TrackingConfig(**config), classes_out=CLASSES)  # type: ignore[arg-type]


def opened(changes: tuple[Change, ...]) -> list[str]:
    return [c.incident.kind for c in changes if c.event == "incident-opened"]


def office_history(t: Tracker, caller: str = "key:ana", days: int = 8, seed: int = 1) -> float:
    """A weekday 09:00-17:00 caller: lookups and small exports; returns the time after it."""
    rng = random.Random(seed)
    for day in range(days):
        if day % 7 >= 5:
            continue
        start = MONDAY + day * DAY + 9 * 3600
        now = start
        while now < start + 8 * 3600:
            now += rng.expovariate(1 / 20)
            if rng.random() < 0.5:
                changes = t.observe(
                    caller, "support", LOOKUP, 1, 200, False, (rng.randrange(500),), now
                )
            else:
                changes = t.observe(caller, "support", "POST /v1/outbound", rng.randint(1, 8), 200, False, None, now)  # fmt: skip
            assert opened(changes) == [], (day, now, opened(changes))
    return MONDAY + days * DAY


def next_weekday_at(after: float, hour: float) -> float:
    day = math.ceil((after - MONDAY) / DAY)
    while day % 7 >= 5:
        day += 1
    return MONDAY + day * DAY + hour * 3600


def test_kind_and_effect_names_are_one_vocabulary() -> None:
    """The mapping model, the runtime and the docs use the same names."""
    assert set(TrackingKind.__args__) == set(KINDS)  # type: ignore[attr-defined]
    assert list(TrackingEffect.__args__) == list(EFFECTS)  # type: ignore[attr-defined]


def test_normal_weeks_raise_nothing() -> None:
    office_history(tracker(), days=14)


def test_enumeration_fires_within_a_minute_after_warm_up() -> None:
    t = tracker()
    start = next_weekday_at(office_history(t), 11)
    for i in range(120):  # two distinct ids a second
        changes = t.observe(
            "key:ana", "support", LOOKUP, 1, 200, False, (10_000 + i,), start + i / 2
        )
        if "enumeration" in opened(changes):
            assert i / 2 <= 60
            (change,) = [c for c in changes if c.incident.kind == "enumeration"]
            assert change.incident.evidence["observed"] > change.incident.evidence["threshold"]
            return
    pytest.fail("enumeration not detected")


def test_volume_fires_on_ten_times_the_usual_records() -> None:
    t = tracker()
    start = next_weekday_at(office_history(t), 11)
    fired = None
    for i in range(60):  # 40 records a second for a minute
        changes = t.observe(
            "key:ana", "billing", "POST /v1/outbound", 40, 200, False, None, start + i
        )
        if "volume" in opened(changes):
            fired = i
            evidence = changes[0].incident.evidence
            assert evidence["pii_records"] > 0 and evidence["secret_records"] > 0
            break
    assert fired is not None and fired <= 60


def test_records_of_a_view_without_pii_are_not_volume() -> None:
    t = tracker()
    start = next_weekday_at(office_history(t), 11)
    for i in range(60):
        assert opened(t.observe("key:ana", "plain", "POST /v1/outbound", 400, 200, False, None, start + i)) in ([], ["first-use"])  # fmt: skip
    assert "volume" not in {i.kind for i in t.open_incidents()}


def test_warm_up_holds_baseline_detections_back() -> None:
    """During warm-up an enumeration is not judged (no baseline); probing, rule-based, is."""
    t = tracker()
    now = MONDAY + 10 * 3600
    for i in range(200):
        assert (
            opened(t.observe("key:new", "support", LOOKUP, 1, 200, False, (i,), now + i / 2)) == []
        )
    changes: list[str] = []
    for i in range(20):
        changes += opened(
            t.observe("key:new", "support", LOOKUP, 0, 403, False, None, now + 400 + i)
        )
    assert changes == ["probing"]


def test_first_use_of_a_route_and_of_a_group_after_warm_up() -> None:
    t = tracker()
    now = next_weekday_at(office_history(t), 10)
    changes = t.observe("key:ana", "billing", "DELETE /customers/{customerId}", 0, 204, False, None, now)  # fmt: skip
    assert opened(changes) == ["first-use"]  # one incident for the route and the group
    assert changes[0].incident.route == "DELETE /customers/{customerId}"


def test_off_hours_after_warm_up_but_not_an_hour_early() -> None:
    t = tracker()
    end = office_history(t)
    early = next_weekday_at(end, 8.2)  # an hour before the usual start: a neighbour hour
    for i in range(5):
        assert opened(t.observe("key:ana", "support", LOOKUP, 1, 200, False, (1,), early + i)) == []
    night = next_weekday_at(end + DAY, 3)
    kinds = [k for i in range(5) for k in opened(t.observe("key:ana", "support", LOOKUP, 1, 200, False, (1,), night + 60 * i))]  # fmt: skip
    assert kinds == ["off-hours"]


def test_probing_needs_a_share_and_a_count() -> None:
    t = tracker()
    now = MONDAY + 9 * 3600
    for i in range(60):  # one 403 in four: under half
        status = 403 if i % 4 == 0 else 200
        assert opened(t.observe("key:b", "support", LOOKUP, 0, status, False, None, now + i)) == []
    kinds = [k for i in range(30) for k in opened(t.observe("key:b", "support", LOOKUP, 0, 422, False, None, now + 60 + i))]  # fmt: skip
    assert kinds == ["probing"]


def test_mass_assignment_on_inbound_rejections() -> None:
    t = tracker()
    now = MONDAY + 9 * 3600
    kinds = [k for i in range(6) for k in opened(t.observe("key:c", "support", "POST /v1/inbound", 0, 422, True, None, now + 5 * i))]  # fmt: skip
    assert kinds == ["mass-assignment"]


def test_an_incident_opens_once_and_closes_after_a_quiet_window() -> None:
    t = tracker()
    now = MONDAY + 9 * 3600
    events = []
    for i in range(40):
        events += t.observe("key:d", "support", LOOKUP, 0, 403, False, None, now + i)
    assert [c.event for c in events] == ["incident-opened"]
    assert t.flags == {} and t.enforced == {}  # effect log: no header, no enforcement
    quiet = t.observe("key:d", "support", LOOKUP, 1, 200, False, None, now + 40 + 61)
    assert [(c.event, c.incident.kind) for c in quiet] == [("incident-closed", "probing")]
    assert t.open_incidents() == []


def test_effects_flag_and_deny_and_their_release() -> None:
    t = Tracker(TrackingConfig(), {"probing": "deny", "mass-assignment": "flag"}, CLASSES)
    now = MONDAY + 9 * 3600
    for i in range(6):
        t.observe("key:e", "support", "POST /v1/inbound", 0, 422, True, None, now + i)
    assert t.flags == {"key:e": "mass-assignment"} and "key:e" not in t.enforced
    for i in range(20):
        t.observe("key:e", "support", LOOKUP, 0, 403, False, None, now + 10 + i)
    assert t.enforced == {"key:e": "deny"}
    assert t.flags == {"key:e": "mass-assignment, probing"}
    effect, closed = t.enforcement("key:e", now + 40)
    assert effect == "deny" and closed == ()
    effect, closed = t.enforcement("key:e", now + 30 + 61)
    assert effect is None and {c.incident.kind for c in closed} == {"probing", "mass-assignment"}
    assert t.flags == {} and t.enforced == {}


def test_silent_callers_incidents_close_by_the_sweep() -> None:
    t = tracker()
    now = MONDAY + 9 * 3600
    for i in range(20):
        t.observe("key:gone", "support", LOOKUP, 0, 403, False, None, now + i)
    closed = t.observe("key:other", "support", LOOKUP, 1, 200, False, None, now + 200)
    assert [(c.event, c.incident.caller) for c in closed] == [("incident-closed", "key:gone")]


def test_memory_is_bounded() -> None:
    t = tracker(max_callers=100, max_ids=50)
    now = MONDAY
    for i in range(1000):
        t.observe(f"key:{i}", "support", LOOKUP, 1, 200, False, range(i, i + 200), now + i)
    assert len(t.callers) <= 100
    assert all(len(c.cur_ids) <= 50 + 200 for c in t.callers.values())


def test_incident_events_pass_the_audit_check() -> None:
    t = tracker()
    now = MONDAY + 9 * 3600
    changes = [c for i in range(12) for c in t.observe("key:f", "support", LOOKUP, 0, 403, False, None, now + i)]  # fmt: skip
    changes += t.observe("key:f", "support", LOOKUP, 1, 200, False, None, now + 200)
    assert [c.event for c in changes] == ["incident-opened", "incident-closed"]
    for change in changes:
        check_event(incident_event(change, "customer", 3, "ab" * 32))


def test_baselines() -> None:
    h = LogHistogram()
    for v in range(100):
        h.add(v)
    assert 90 <= h.quantile(0.99) <= 99 * 1.25 and h.quantile(0.5) <= 50 * 1.25
    assert LogHistogram().quantile(0.99) == 0
    assert hour_of_week(MONDAY) == 0 and hour_of_week(MONDAY + 7 * DAY - 1) == 167
    w = HourOfWeek()
    w.used(0)
    assert w.usual(167) and w.usual(1) and not w.usual(2)


OBSERVATION = st.tuples(
    st.sampled_from(["key:a", "key:b"]),
    st.sampled_from(["support", "billing", "plain", None]),
    st.sampled_from([LOOKUP, "POST /v1/outbound", "POST /v1/inbound", None]),
    st.integers(0, 500),
    st.sampled_from([200, 403, 422, 404, 429]),
    st.booleans(),
    st.lists(st.integers(0, 10**6), max_size=3),
    st.floats(0, 400),  # seconds since the previous observation
)


@settings(max_examples=60, deadline=None)
@given(st.lists(OBSERVATION, max_size=300), st.sampled_from(EFFECTS))
def test_one_open_incident_per_caller_and_kind_and_evidence_numbers_only(
    observations: list[tuple], effect: str
) -> None:
    t = Tracker(
        TrackingConfig(warmup_seconds=600, warmup_requests=5),
        dict.fromkeys(KINDS, effect),
        CLASSES,
    )
    now = MONDAY
    open_now: set[tuple[str, str]] = set()
    for caller, group, route, records, status, rejected, ids, step in observations:
        now += step
        for change in t.observe(caller, group, route, records, status, rejected, ids, now):
            key = (change.incident.caller, change.incident.kind)
            if change.event == "incident-opened":
                assert key not in open_now
                open_now.add(key)
            else:
                open_now.discard(key)
            event = incident_event(change, "customer", 3, "ab" * 32)
            check_event(event)
            assert all(
                isinstance(v, int | float) and math.isfinite(v) for v in event["evidence"].values()
            )
    assert {(i.caller, i.kind) for i in t.open_incidents()} == open_now
