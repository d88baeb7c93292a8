"""Tracking baselines kept across restarts (runtime/service/tracking_store.py).

A tracker's baselines round-trip through their JSON unchanged (thresholds,
warm-up, routes, groups, hours); malformed or foreign rows are skipped with a
WARNING and never fail a start; the store saves only what changed, restores
the most recent callers, drops rows not saved for KEEP_DAYS, and works on
SQLite beside a file audit store and on PostgreSQL (a fresh schema); a real
app saves at shutdown and the next app starts warm.
"""

from __future__ import annotations

import logging
from pathlib import Path

import orjson
import pytest
from starlette.testclient import TestClient

from shimgen.runtime.service import tracking_store
from shimgen.runtime.service.app import build_app
from shimgen.runtime.service.incidents import TrackingConfig
from shimgen.runtime.service.settings import Settings
from shimgen.runtime.service.tracking import Tracker
from shimgen.runtime.service.tracking_store import BaselineStore, dump, restore, restore_rows
from tests.service_support import KEY_HELPDESK, KEYS_FILE, RECORD, headers, make_spec, write_callers
from tests.test_runtime_audit import pg_schema, pg_url  # noqa: F401 (fixtures)
from tests.test_tracking_detector import CLASSES, LOOKUP, next_weekday_at, office_history

_THRESHOLDS = ("t_vol", "t_vmean", "t_vreq", "t_enum", "t_err", "t_rej")


def _warm() -> tuple[Tracker, float]:
    t = Tracker(TrackingConfig(), classes_out=CLASSES)
    return t, next_weekday_at(office_history(t), 11)


def _restored(rows: list[tuple[str, str]], now: float) -> Tracker:
    fresh = Tracker(TrackingConfig(), classes_out=CLASSES)
    restore_rows(fresh, list(rows), now)
    return fresh


def test_baselines_round_trip_through_their_json() -> None:
    t, now = _warm()
    st = t.callers["key:ana"]
    text = dump(st)
    assert len(text) < 4000  # sparse: only the buckets and hours in use
    back = _restored([("key:ana", text)], now).callers["key:ana"]
    assert back.warm and st.warm
    assert [getattr(back, n) for n in _THRESHOLDS] == [getattr(st, n) for n in _THRESHOLDS]
    assert (back.first, back.requests) == (st.first, st.requests)
    assert (back.routes, back.groups) == (st.routes, st.groups)
    assert back.hourly.hours == st.hourly.hours
    for name in ("h_vol", "h_vreq", "h_ids", "h_err", "h_rej"):
        a, b = getattr(st, name), getattr(back, name)
        assert (list(a.counts), a.total, a.sum) == (list(b.counts), b.total, b.sum)
    assert dump(back) == text


@pytest.mark.parametrize(
    "text",
    [
        "not json",
        "[]",
        '{"v": 2}',
        '{"v": 1, "first": 1}',  # keys missing; each field of the wrong kind: below
    ],
)
def test_a_row_that_is_not_a_baseline_is_skipped_with_a_warning(
    text: str, caplog: pytest.LogCaptureFixture
) -> None:
    t, now = _warm()
    good = dump(t.callers["key:ana"])
    with caplog.at_level(logging.WARNING, logger="shim"):
        fresh = _restored([("key:bad", text), ("key:ana", good)], now)
    assert "key:bad" not in fresh.callers and fresh.callers["key:ana"].warm
    assert any(r.__dict__.get("event") == "tracking-baselines-skipped" for r in caplog.records)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("first", -1),
        ("first", "0"),
        ("requests", True),
        ("routes", "GET /a"),
        ("routes", [1]),
        ("hours", {"168": 1}),
        ("hours", {"1": 70_000}),
        ("hours", {"x": 1}),
        ("h_ids", {"sum": 1, "counts": {"80": 1}}),
        ("h_ids", {"sum": 1, "counts": {"1": 0}}),
        ("h_vol", {"sum": -1, "counts": {}}),
        ("h_vol", None),
    ],
)
def test_each_field_out_of_range_refuses_the_row(field: str, value: object) -> None:
    t, _ = _warm()
    state = orjson.loads(dump(t.callers["key:ana"]))
    state[field] = value
    fresh = Tracker(TrackingConfig()).adopt("key:ana", 0.0)
    with pytest.raises(ValueError):
        restore(fresh, orjson.dumps(state).decode())


def test_only_changed_callers_are_saved(tmp_path: Path) -> None:
    t, now = _warm()
    store = BaselineStore(f"sqlite:///{tmp_path / 'audit.db'}", t)
    assert sorted(t.dirty) == ["key:ana"]
    rows = store.snapshot()
    assert [r[0] for r in rows] == ["key:ana"] and not t.dirty
    assert store.snapshot() == []  # nothing learnt since
    t.observe("key:ana", "support", LOOKUP, 1, 200, False, None, now)  # rolls: a window learnt
    assert [r[0] for r in store.snapshot()] == ["key:ana"]
    t.observe("key:ana", "support", LOOKUP, 1, 200, False, None, now + 1)  # same window and route
    assert store.snapshot() == []
    t.observe("key:ana", "support", "GET /new", 1, 200, False, None, now + 2)  # a new route
    assert [r[0] for r in store.snapshot()] == ["key:ana"]


def _save_and_load(audit_url: str) -> None:
    import asyncio

    async def run() -> None:
        t, now = _warm()
        t.observe("key:bo", "billing", LOOKUP, 1, 200, False, None, now)
        store = BaselineStore(audit_url, t)
        assert await store.save() == 2
        await store.stop()
        fresh = Tracker(TrackingConfig(), classes_out=CLASSES)
        again = BaselineStore(audit_url, fresh)
        assert await again.load(now) == 2
        assert fresh.callers["key:ana"].warm and not fresh.callers["key:bo"].warm
        assert fresh.callers["key:ana"].t_enum == t.callers["key:ana"].t_enum
        # a row not saved for KEEP_DAYS is dropped by the next save
        old = now - (tracking_store.KEEP_DAYS + 1) * 86_400
        with again.db.exclusive() as sql:
            sql("UPDATE tracking_baselines SET saved = ? WHERE subject = ?", (old, "key:bo"))
        fresh.dirty.add("key:ana")
        assert await again.save() == 1
        rows = again.db.read("SELECT subject FROM tracking_baselines")
        assert rows == [("key:ana",)]
        await again.stop()

    asyncio.run(run())


def test_sqlite_beside_a_file_audit_store(tmp_path: Path) -> None:
    _save_and_load(f"sqlite:///{tmp_path / 'audit.db'}?per_worker=1")
    assert (tmp_path / "audit.db.tracking.db").is_file()
    assert not (tmp_path / "audit.db.grants.db").exists()  # tables of their own


def test_postgresql_in_the_audit_database(pg_url: str) -> None:  # noqa: F811
    _save_and_load(pg_url)


def test_the_most_recent_callers_are_restored_up_to_max_callers(tmp_path: Path) -> None:
    import asyncio

    async def run() -> None:
        t, now = _warm()
        text = dump(t.callers["key:ana"])
        url = f"sqlite:///{tmp_path / 'audit.db'}"
        store = BaselineStore(url, t)
        with store.db.exclusive() as sql:
            for i in range(20):
                sql(tracking_store._UPSERT, (f"key:c{i}", text, now + i, 0.0))
        fresh = Tracker(TrackingConfig(max_callers=5), classes_out=CLASSES)
        assert await BaselineStore(url, fresh).load(now) == 5
        assert sorted(fresh.callers) == sorted(f"key:c{i}" for i in range(15, 20))
        await store.stop()

    asyncio.run(run())


def test_an_unreadable_store_starts_cold_with_a_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    import asyncio

    (tmp_path / "audit.db.tracking.db").mkdir()  # not a file: cannot be opened
    t = Tracker(TrackingConfig())
    store = BaselineStore(f"sqlite:///{tmp_path / 'audit.db'}", t)
    with caplog.at_level(logging.WARNING, logger="shim"):
        assert asyncio.run(store.load()) == 0
    assert any(r.__dict__.get("event") == "tracking-baselines-unavailable" for r in caplog.records)


def test_a_restarted_app_starts_with_the_baselines_it_had(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SHIM_KEYS_FILE", str(KEYS_FILE))
    settings = Settings(
        callers_file=str(write_callers(tmp_path / "callers.yaml")),
        audit_url=f"sqlite:///{tmp_path / 'audit.db'}",
        instance="test",
    )
    with TestClient(build_app(make_spec(), settings)) as client:
        answer = client.post(
            "/v1/outbound", json=RECORD, headers=headers(KEY_HELPDESK, group="support")
        )
        assert answer.status_code == 200
        shim = client.app.state.shim  # type: ignore[attr-defined]
        [subject] = shim.tracker.callers
        first = shim.tracker.callers[subject].first
    # stopped: saved; a new app (a restart) has the caller as it was
    with TestClient(build_app(make_spec(), settings)) as client:
        shim = client.app.state.shim  # type: ignore[attr-defined]
        st = shim.tracker.callers[subject]
        assert (st.first, st.requests, st.groups) == (first, 1, {"support"})
        assert st.routes == {"POST /v1/outbound"}


def test_a_younger_state_never_replaces_a_longer_history(tmp_path: Path) -> None:
    """A worker that met the caller after it started saves it cold: the warm row stays."""
    import asyncio

    async def run() -> None:
        t, now = _warm()
        url = f"sqlite:///{tmp_path / 'audit.db'}"
        warm = BaselineStore(url, t)
        assert await warm.save() == 1
        [(saved_warm,)] = warm.db.read("SELECT saved FROM tracking_baselines")
        other = Tracker(TrackingConfig(), classes_out=CLASSES)  # never loaded the row
        other.observe("key:ana", "support", LOOKUP, 1, 200, False, None, now)
        cold = BaselineStore(url, other)
        await cold.save()
        fresh = Tracker(TrackingConfig(), classes_out=CLASSES)
        assert await BaselineStore(url, fresh).load(now) == 1
        assert fresh.callers["key:ana"].warm
        assert fresh.callers["key:ana"].first == t.callers["key:ana"].first
        # the cold save still marks the row as alive: it stays among the newest rows, and
        # the retention does not drop it (red-team, fourth pass: a frozen row fell out)
        [(saved,)] = cold.db.read("SELECT saved FROM tracking_baselines")
        assert saved > saved_warm
        t.dirty.add("key:ana")  # the warm worker's next save still replaces its own row
        t.callers["key:ana"].requests += 1
        assert await warm.save() == 1
        [(state,)] = warm.db.read("SELECT state FROM tracking_baselines")
        assert orjson.loads(state)["requests"] == t.callers["key:ana"].requests
        await warm.stop()
        await cold.stop()

    asyncio.run(run())
