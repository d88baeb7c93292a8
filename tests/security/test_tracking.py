"""Threat-model cases for heuristic tracking (OWASP API1/API4/API6 2023, NIST AC-2(12)).

Each case is an attacker holding valid credentials, after the caller's warm-up,
against the real :class:`Tracker` with a simulated clock (the service wiring is
in tests/test_service_tracking.py):

* BOLA enumeration: walking ids on a proxy route is an incident within 60 s;
* probing: 403s/422s from trying groups and routes the caller may not use;
* evasion by spreading: an enumeration spread over two groups and two routes is
  still one caller's enumeration (counters are per caller);
* evasion by teaching: an attack kept up for an hour does not become the
  caller's normal (windows with an open incident are not learnt);
* leakage: an incident event carries counts only, never an id the caller sent;
* timing: right after a restart (a deploy) the baselines are the ones kept
  beside the audit trail, not a week of warm-up with four kinds silent;
* evasion by creeping: a session that runs on from the usual hours into the
  night, one hour at a time, is off-hours (an hour used this week is no
  neighbour that makes the next one usual), and an hour whose off-hours
  incident opened is not learnt, so the same night next week is one again.
"""

from __future__ import annotations

import json

from shimgen.runtime.service.incidents import TrackingConfig, incident_event
from shimgen.runtime.service.tracking import Tracker
from shimgen.runtime.service.tracking_store import dump, restore_rows
from tests.test_tracking_detector import (
    CLASSES,
    DAY,
    LOOKUP,
    next_weekday_at,
    office_history,
    opened,
)

PATCH = "PATCH /customers/{customerId}"


def warmed() -> tuple[Tracker, float]:
    t = Tracker(TrackingConfig(), classes_out=CLASSES)
    return t, next_weekday_at(office_history(t), 11)


def test_an_enumerating_caller_is_caught_within_60_simulated_seconds() -> None:
    t, start = warmed()
    for i in range(120):
        kinds = opened(t.observe("key:ana", "support", LOOKUP, 1, 200, False, (f"tok-{i}",), start + i / 2))  # fmt: skip
        if "enumeration" in kinds:
            assert i / 2 <= 60
            return
    raise AssertionError("enumeration not caught in 60 s")


def test_probing_other_groups_is_caught() -> None:
    t, start = warmed()
    kinds = []
    for i in range(30):
        kinds += opened(t.observe("key:ana", None, LOOKUP, 0, 403, False, None, start + i))
    assert kinds == ["probing"]


def test_spreading_an_enumeration_over_groups_and_routes_does_not_hide_it() -> None:
    t, start = warmed()
    for i in range(120):
        group = ("support", "billing")[i % 2]
        route = (LOOKUP, PATCH)[i // 2 % 2]
        kinds = opened(t.observe("key:ana", group, route, 1, 200, False, (i,), start + i / 2))
        if "enumeration" in kinds:
            assert i / 2 <= 60
            return
    raise AssertionError("a spread enumeration was not caught")


def test_an_attack_kept_up_does_not_become_normal() -> None:
    t, start = warmed()
    st = t.callers["key:ana"]
    before = st.h_ids.total
    for i in range(3600):  # an hour at two distinct ids a second
        t.observe("key:ana", "support", LOOKUP, 1, 200, False, (10**6 + i,), start + i)
    # of the hour's 60 windows only those that ended before the detection were learnt
    assert st.h_ids.total - before <= 2
    assert "enumeration" in {i.kind for i in t.open_incidents()}


def test_an_incident_event_carries_no_value_the_caller_sent() -> None:
    t, start = warmed()
    changes = []
    for i in range(120):
        changes += t.observe("key:ana", "support", LOOKUP, 1, 200, False, (f"tok_SECRET_{i}",), start + i / 2)  # fmt: skip
    text = json.dumps([incident_event(c, "customer", 3, "ab" * 32) for c in changes])
    assert changes and "SECRET" not in text and "tok_" not in text


def test_an_incident_closed_before_the_callers_next_request_is_not_learnt() -> None:
    """The window is rolled by the caller's own next request, and by then another caller's
    request (the sweep) or the gate may have closed the incident: the attack window must
    still not teach the baseline (before, one bystander request made it normal)."""
    t, start = warmed()
    st = t.callers["key:ana"]
    assert st.h_err.quantile(1.0) < 10  # ana's normal: next to no 403s in a window
    kinds = []
    for i in range(20):  # a probing burst: 403s for 20 seconds
        kinds += opened(t.observe("key:ana", None, LOOKUP, 0, 403, False, None, start + i))
    assert kinds == ["probing"]
    later = start + 20 + 3 * t.window  # quiet for three windows; a bystander's request sweeps
    closed = t.observe("key:bo", "support", LOOKUP, 1, 200, False, None, later)
    assert [(c.event, c.incident.caller) for c in closed] == [("incident-closed", "key:ana")]
    t.observe("key:ana", "support", LOOKUP, 1, 200, False, None, later + 1)  # ana's roll
    assert st.h_err.quantile(1.0) < 10  # no window of the attack was learnt
    assert st.t_err == t.config.probing_floor


def test_probes_padded_with_ordinary_requests_are_still_probing() -> None:
    """Two ordinary requests per probe keep refusals under half of a caller's requests: the
    share rule alone never fired (200 probes, 400 ordinary requests in one window). Beyond
    three times the threshold refusals are probing whatever their share."""
    t, start = warmed()
    kinds: list[str] = []
    for i in range(200):
        now = start + i * 0.25
        kinds += opened(t.observe("key:ana", "support", LOOKUP, 1, 200, False, None, now))
        kinds += opened(t.observe("key:ana", "support", LOOKUP, 1, 200, False, None, now))
        kinds += opened(t.observe("key:ana", None, LOOKUP, 0, 403, False, None, now))
    assert "probing" in kinds


def test_a_restart_does_not_switch_enumeration_and_first_use_off() -> None:
    """Whoever knows when the shim is deployed walks the ids right after.

    Baselines lived in each worker's memory: after a restart every caller was cold
    for the warm-up (a week), and volume, enumeration, first-use and off-hours did
    not fire at all. They are kept beside the audit trail (tracking_store) and a
    restarted worker starts from them.
    """
    t, start = warmed()
    rows = [(subject, dump(st)) for subject, st in t.callers.items()]
    after = start + 600  # ten minutes later, a new process

    def walk(tracker: Tracker) -> list[str]:
        kinds: list[str] = []
        for i in range(120):
            kinds += opened(tracker.observe("key:ana", "support", LOOKUP, 1, 200, False, (f"tok-{i}",), after + i / 2))  # fmt: skip
        return kinds

    cold = Tracker(TrackingConfig(), classes_out=CLASSES)  # the restart as it was
    assert walk(cold) == []
    restarted = Tracker(TrackingConfig(), classes_out=CLASSES)
    assert restore_rows(restarted, rows, after) == 1
    assert "enumeration" in walk(restarted)  # (and volume: 120 pii records in a minute)
    kinds = opened(restarted.observe("key:ana", "billing", "GET /orders", 1, 200, False, None, after + 90))  # fmt: skip
    assert kinds == ["first-use"]  # a route it never used still is one; the known ones are not


def test_a_session_running_on_into_the_night_is_off_hours() -> None:
    """A 09:00-17:00 caller starts at 16:30, a usual hour, and goes on all night.

    Each hour was learnt at its first request, and an hour beside a used one is
    usual: 17:00 (beside 16:00) taught 17, which made 18:00 usual, and so on to
    dawn. Off-hours never fired for a session that began in office hours, nor
    for one that began with a request or two under the threshold the hour before.
    """
    t, _ = warmed()
    start = next_weekday_at(max(st.seen for st in t.callers.values()), 16.5)
    kinds: list[str] = []
    for i in range(12 * 12):  # one request every five minutes, 16:30 to 04:30
        kinds += opened(t.observe("key:ana", "support", LOOKUP, 1, 200, False, (1,), start + 300 * i))  # fmt: skip
    assert "off-hours" in kinds


def test_an_hour_whose_off_hours_incident_opened_is_not_learnt() -> None:
    """A 03:00 session every week: the first one opened an incident and taught the hour,
    so the same night a week later (and the hours beside it) was usual."""
    t, _ = warmed()
    night = next_weekday_at(max(st.seen for st in t.callers.values()), 3)
    for week in range(2):
        kinds: list[str] = []
        for i in range(5):
            now = night + week * 7 * DAY + 60 * i
            kinds += opened(t.observe("key:ana", "support", LOOKUP, 1, 200, False, (1,), now))
        assert kinds == ["off-hours"], week
