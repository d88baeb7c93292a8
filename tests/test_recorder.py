"""The audit recorder: every event stored before its request returns, and group commit.

Batch mode writes a batch as soon as every active HTTP/1.1 connection has a
request waiting in it, on the event loop's next pass otherwise, and after at
most 2 ms while active connections may still join; these tests pin each rule.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from shimgen.runtime.audit import recorder as recorder_module
from shimgen.runtime.audit.recorder import Recorder


class FakeSink:
    """Records what it is given; refuses events whose request_id starts with "bad"."""

    def __init__(self, blocking: bool = False, many: bool = False) -> None:
        self.blocking = blocking
        self.calls: list[list[str]] = []
        if many:
            self.append_many = self._append_many

    def append(self, event: Any) -> None:
        if event["request_id"].startswith("bad"):
            raise RuntimeError("refused")
        self.calls.append([event["request_id"]])

    def _append_many(self, events: list[Any]) -> None:
        if any(e["request_id"].startswith("bad") for e in events):
            raise RuntimeError("refused")
        self.calls.append([e["request_id"] for e in events])


@pytest.mark.parametrize(
    ("blocking", "many", "mode"),
    [
        (False, False, "inline"),
        (False, True, "batch"),
        (True, False, "thread"),
        (True, True, "thread"),
    ],
)
def test_recorder_stores_every_event_and_fails_only_its_own(
    blocking: bool, many: bool, mode: str
) -> None:
    sink = FakeSink(blocking, many)
    recorder = Recorder(sink)
    assert recorder.mode == mode

    async def one(rid: str) -> str:
        try:
            await recorder.append({"request_id": rid})
        except RuntimeError:
            return "failed"
        return "stored"

    async def main() -> list[str]:
        return list(await asyncio.gather(*(one(f"ok{i}") for i in range(20))))

    try:
        assert asyncio.run(main()) == ["stored"] * 20
        assert sorted(r for call in sink.calls for r in call) == sorted(f"ok{i}" for i in range(20))
        if mode == "batch":
            assert len(sink.calls) == 1  # one loop iteration, one write
        assert asyncio.run(one("bad")) == "failed"
        if mode == "inline" or not many:
            # Without append_many each event is its own write: a bad one fails alone.
            async def mixed() -> list[str]:
                return list(await asyncio.gather(one("ok"), one("bad1"), one("ok2")))

            assert asyncio.run(mixed()) == ["stored", "failed", "stored"]
    finally:
        recorder.close()


# -- batch mode: when a batch is written ---------------------------------------------------------


def batch_recorder() -> tuple[FakeSink, Recorder]:
    sink = FakeSink(many=True)
    return sink, Recorder(sink)


A, B = ("10.0.0.1", 1001), ("10.0.0.1", 1002)


async def make_active(recorder: Recorder, *connections: Any) -> None:
    """Each connection sends one request, at the same time; all are active afterwards."""
    await asyncio.gather(*(send(recorder, f"warm{i}", c) for i, c in enumerate(connections)))


async def send(recorder: Recorder, rid: str, connection: Any) -> float:
    """Append one event; the loop time it took to be stored."""
    loop = asyncio.get_running_loop()
    start = loop.time()
    await recorder.append({"request_id": rid}, connection)
    return loop.time() - start


def test_a_batch_is_written_once_every_active_connection_waits_on_it() -> None:
    sink, recorder = batch_recorder()
    a, b, c = ("10.0.0.1", 1001), ("10.0.0.1", 1002), ("10.0.0.2", 1001)

    async def main() -> None:
        # Make a, b and c active: each sends once (the first finds no other active one).
        for rid, conn in (("a0", a), ("b0", b), ("c0", c)):
            await send(recorder, rid, conn)
        sink.calls.clear()
        tasks = [
            asyncio.create_task(send(recorder, f"{n}1", conn))
            for n, conn in zip("abc", (a, b, c), strict=True)
        ]
        await asyncio.sleep(0)  # each task runs up to its wait; the third one writes the batch
        assert sink.calls == [["a1", "b1", "c1"]]
        await asyncio.gather(*tasks)

    asyncio.run(main())


def test_a_batch_waits_for_active_connections_but_not_past_the_limit(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    sink, recorder = batch_recorder()

    async def main() -> None:
        await make_active(recorder, A, B)
        monkeypatch.setattr(recorder_module, "_GROUP_MAX", 0.05)
        monkeypatch.setattr(recorder_module, "_ACTIVE", 60.0)  # B stays active on a slow machine
        sink.calls.clear()
        # B stays away: A's batch waits past the loop's next pass for it, up to the limit.
        waited = await send(recorder, "a1", A)
        assert 0.05 <= waited < 1.0
        assert sink.calls == [["a1"]]

    asyncio.run(main())


def test_a_connection_quiet_for_longer_than_the_active_time_is_not_waited_for(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(recorder_module, "_ACTIVE", 0.01)
    sink, recorder = batch_recorder()

    async def main() -> None:
        await make_active(recorder, A, B)
        monkeypatch.setattr(recorder_module, "_GROUP_MAX", 5.0)
        await asyncio.sleep(0.05)  # B is no longer active
        waited = await send(recorder, "a1", A)
        assert waited < 1.0  # the loop's next pass (and a slow machine's slack), not the 5 s limit
        assert sink.calls[-1] == ["a1"]

    asyncio.run(main())


@pytest.mark.parametrize("unknown", [None, "only"])
def test_a_request_of_unknown_connection_keeps_its_batch_to_the_next_pass(
    monkeypatch: pytest.MonkeyPatch, unknown: str | None
) -> None:
    sink, recorder = batch_recorder()

    async def main() -> None:
        await make_active(recorder, A, B)
        monkeypatch.setattr(recorder_module, "_GROUP_MAX", 5.0)
        sink.calls.clear()
        # B is active but does not send; a request whose connection is unknown joins a's
        # batch (or is alone in it), so nothing is known about who else may come: next pass.
        sends = [send(recorder, "x1", None)]
        if unknown is None:
            sends.append(send(recorder, "a1", A))
        waited = await asyncio.gather(*sends)
        assert max(waited) < 1.0
        assert sink.calls == [["x1", "a1"] if unknown is None else ["x1"]]

    asyncio.run(main())


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(
        st.tuples(
            st.sampled_from([None, ("h", 1), ("h", 2), ("h", 3), ("g", 1)]),
            st.integers(0, 3),  # loop iterations to wait before sending
            st.booleans(),  # a bad event (the sink refuses it)
        ),
        min_size=1,
        max_size=25,
    )
)
def test_every_event_is_stored_once_and_only_bad_ones_fail(
    schedule: list[tuple[Any, int, bool]],
) -> None:
    sink, recorder = batch_recorder()

    async def one(i: int, conn: Any, delay: int, bad: bool) -> str:
        for _ in range(delay):
            await asyncio.sleep(0)
        try:
            await recorder.append({"request_id": f"{'bad' if bad else 'ok'}{i}"}, conn)
        except RuntimeError:
            return "failed"
        return "stored"

    async def main() -> list[str]:
        return list(await asyncio.gather(*(one(i, *s) for i, s in enumerate(schedule))))

    outcomes = asyncio.run(main())
    assert outcomes == ["failed" if bad else "stored" for _, _, bad in schedule]
    written = [rid for call in sink.calls for rid in call]
    assert sorted(written) == sorted(f"ok{i}" for i, (_, _, bad) in enumerate(schedule) if not bad)
