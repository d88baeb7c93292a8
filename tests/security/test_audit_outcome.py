"""Attack class: the audit record says what the caller got.

Issue 10, section 3. Seen: an outbound record with ``disk_usage = -2**63``
under ``{round: -3}`` became a value outside int64, the JSON encoder failed,
the caller got 500 and the audit record said 200; proxy requests that ended
502, 504 or 404 left only an inbound record saying 200.

The numeric cases run against a shim generated for this module from a small
mapping (:data:`MAPPING`) whose fields sit at the edges of their types
(``int64``, ``int32``, plain ``integer``, ``number``), served in process
with its real audit store; the proxy cases use the customer shim and a real
internal API over TCP (:mod:`tests.security.real_upstream`).
"""

from __future__ import annotations

import importlib
import json
import math
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from starlette.testclient import TestClient

from shimgen.check import check_mapping
from shimgen.render.generate import render_package
from shimgen.runtime.audit import trail
from shimgen.runtime.audit.errors import AuditError
from shimgen.runtime.core import transforms
from shimgen.runtime.service.settings import Settings
from tests.security import real_upstream
from tests.security.real_upstream import (
    BROKEN,
    MISSING,
    NO_CONTENT,
    PLAIN,
    SLOW,
    InternalAPI,
)
from tests.service_support import KEYS_FILE, headers, outbound_scope, sha, token
from tests.test_service_runtime import assert_problem

internal_api = real_upstream.internal_api  # the fixtures, used by name
shim = real_upstream.shim

INT64 = (-(2**63), 2**63 - 1)
INT32 = (-(2**31), 2**31 - 1)

INTERNAL = {
    "type": "object", "additionalProperties": False, "required": ["id"],
    "properties": {
        "id": {"type": "string"},
        "disk_usage": {"type": "integer", "format": "int64"},
        "plain_count": {"type": "integer"},
        "small_count": {"type": "integer", "format": "int64"},
        "score": {"type": "number"},
        "age": {"type": "integer"},
        "ratio": {"type": "number"},
    },
}  # fmt: skip
EXTERNAL = {
    "type": "object", "additionalProperties": False, "required": ["id"],
    "properties": {
        "id": {"type": "string"},
        "diskUsage": {"type": "integer", "format": "int64"},
        "plainCount": {"type": "integer"},
        "smallCount": {"type": "integer", "format": "int32"},
        "score": {"type": "number"},
        "ageBand": {"type": "string"},
        "ratioBand": {"type": "string"},
    },
}  # fmt: skip
MAPPING = """\
shim: numbers
version: 1
owner: tests
description: numeric treatments at the edges of their types
internal: {schema: internal.json}
external: {schema: external.json}
groups:
  ops: operations
fields:
  id: pass
  disk_usage: {to: diskUsage, treat: {round: -3}}
  plain_count: {to: plainCount, treat: {round: -3}}
  small_count: {to: smallCount, treat: {round: -1}}
  score: {treat: {round: 2}}
  age: {to: ageBand, treat: {bucket: [0, 18, 65]}}
  ratio: {to: ratioBand, treat: {bucket: [-1.5, 0.5, 1e300]}}
"""
KEY = "ops-" + "o" * 40


@pytest.fixture(scope="module")
def numbers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[TestClient, Path]]:
    """The generated numbers shim in process; yields its client and its audit file."""
    src = tmp_path_factory.mktemp("numbers")
    (src / "internal.json").write_text(json.dumps(INTERNAL), encoding="utf-8")
    (src / "external.json").write_text(json.dumps(EXTERNAL), encoding="utf-8")
    (src / "numbers.shim.yaml").write_text(MAPPING, encoding="utf-8")
    result = check_mapping(src / "numbers.shim.yaml")
    assert result.plan is not None, [f.format() for f in result.findings]
    out = tmp_path_factory.mktemp("pkg")
    for rel, text in render_package(result.plan).items():
        target = out / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text, encoding="utf-8")
    (src / "callers.yaml").write_text(
        f"callers:\n  - name: ops\n    side: internal\n    groups: [ops]\n    api_keys: ['{sha(KEY)}']\n",
        encoding="utf-8",
    )
    audit = src / "audit.jsonl"
    sys.path.insert(0, str(out))
    mp = pytest.MonkeyPatch()
    mp.setenv("SHIM_KEYS_FILE", str(KEYS_FILE))
    try:
        app = importlib.import_module("numbers_shim.app")
        settings_ = Settings(
            callers_file=str(src / "callers.yaml"),
            audit_url=f"jsonl:///{audit}",
            instance="test",
            rate_limit=1e6,
            rate_burst=1_000_000,
        )
        with TestClient(app.create_app(settings_), raise_server_exceptions=False) as client:
            yield client, audit
    finally:
        mp.undo()
        sys.path.remove(str(out))
        for name in [m for m in sys.modules if m.split(".")[0] == "numbers_shim"]:
            del sys.modules[name]


def outbound(client: TestClient, record: dict[str, Any]) -> Any:
    hdrs = {"X-API-Key": KEY, "Shim-Group": "ops", "Content-Type": "application/json"}
    return client.post("/v1/outbound", content=orjson.dumps(record), headers=hdrs)


def audit_lines(audit: Path) -> list[str]:
    return audit.read_text(encoding="utf-8").splitlines() if audit.exists() else []


def last_event(audit: Path) -> dict[str, Any]:
    last: dict[str, Any] = json.loads(audit_lines(audit)[-1])
    return last


def events(settings_: Settings) -> list[dict[str, Any]]:
    path = Path(settings_.audit_url.removeprefix("jsonl:///"))
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


# -- integer treatments: exact, and 422 when the result does not fit --------------------------


def test_round_of_min_int64_to_thousands_is_422_and_audited_422(
    numbers: tuple[TestClient, Path],
) -> None:
    """The attack as seen: -2**63 rounds to -9223372036854776000, outside int64."""
    client, audit = numbers
    problem = assert_problem(outbound(client, {"id": "r", "disk_usage": -(2**63)}), 422)
    assert [e["pointer"] for e in problem["errors"]] == ["/diskUsage"]
    assert last_event(audit)["outcome"] == 422


def test_round_beyond_what_json_integers_carry_is_422_not_500(
    numbers: tuple[TestClient, Path],
) -> None:
    """A plain ``integer`` has no format; 2**64 - 1 rounds up past what the encoder writes."""
    client, audit = numbers
    problem = assert_problem(outbound(client, {"id": "r", "plain_count": 2**64 - 1}), 422)
    assert [e["pointer"] for e in problem["errors"]] == ["/plainCount"]
    assert last_event(audit)["outcome"] == 422


def test_round_into_an_int32_field_out_of_range_is_422(numbers: tuple[TestClient, Path]) -> None:
    client, audit = numbers
    problem = assert_problem(outbound(client, {"id": "r", "small_count": 2**31 - 1}), 422)
    assert [e["pointer"] for e in problem["errors"]] == ["/smallCount"]
    assert last_event(audit)["outcome"] == 422
    ok = outbound(client, {"id": "r", "small_count": 2_147_483_643})  # 2**31 - 5
    assert ok.status_code == 200, ok.text
    assert ok.json()["smallCount"] == 2_147_483_640


def test_integer_round_is_exact_at_the_top_of_int64(numbers: tuple[TestClient, Path]) -> None:
    """No float detour: 9223372036854000123 rounds to ...000000, not to a float's neighbour."""
    client, audit = numbers
    response = outbound(client, {"id": "r", "disk_usage": 9_223_372_036_854_000_123})
    assert response.status_code == 200, response.text
    assert response.json()["diskUsage"] == 9_223_372_036_854_000_000
    assert last_event(audit)["outcome"] == 200


def test_round_and_bucket_stay_exact_on_integers_of_any_size() -> None:
    big = 10**40 + 499
    assert transforms.round_to(big, -3) == 10**40
    assert transforms.round_to(-(10**60) - 501, -3) == -(10**60) - 1000
    # 2**53 + 3 as a float is 2**53 + 4: a float detour would put it in the upper range.
    bounds = (float(2**53 + 4),)
    assert transforms.bucket(2**53 + 3, bounds, ("below", "above")) == "below"
    assert transforms.bucket(10**300, (1e300,), ("below", "above")) == "below"  # 1e300 > 10**300


def test_float_round_that_overflows_is_refused_not_raised() -> None:
    with pytest.raises(ValueError, match="too large"):
        transforms.round_to(sys.float_info.max, -308)


EXTREME_INTS = [-(2**63), 2**63 - 1, 2**63, 2**64 - 1, -(2**31) - 1, 2**31, 2**31 - 1, 0, -1]
EXTREME_FLOATS = [1e308, -1e308, sys.float_info.max, -sys.float_info.max, -0.0, 0.0,
                  5e-324, -5e-324, 2.2250738585072014e-308]  # fmt: skip
ints = st.one_of(st.sampled_from(EXTREME_INTS), st.integers(-(2**63), 2**64 - 1))
numbers_ = st.one_of(
    ints, st.sampled_from(EXTREME_FLOATS), st.floats(allow_nan=False, allow_infinity=False)
)
records = st.fixed_dictionaries(
    {"id": st.just("r")},
    optional={
        "disk_usage": ints, "plain_count": ints, "small_count": ints,
        "score": numbers_, "age": ints, "ratio": numbers_,
    },
)  # fmt: skip


def _fits(value: Any, low: int, high: int) -> bool:
    return value.__class__ is int and low <= value <= high


def _schema_valid(body: dict[str, Any]) -> bool:
    """ExternalRecord, with int32/int64 read as the ranges OpenAPI defines (written out here)."""
    checks = {
        "id": lambda v: isinstance(v, str),
        "diskUsage": lambda v: _fits(v, *INT64),
        "plainCount": lambda v: _fits(v, -(2**63), 2**64 - 1),
        "smallCount": lambda v: _fits(v, *INT32),
        "score": lambda v: isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v),
        "ageBand": lambda v: isinstance(v, str),
        "ratioBand": lambda v: isinstance(v, str),
    }  # fmt: skip
    return "id" in body and all(k in checks and checks[k](v) for k, v in body.items())


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(record=records)
def test_numeric_treatments_on_extreme_numbers_are_200_schema_valid_or_422_never_500(
    numbers: tuple[TestClient, Path], record: dict[str, Any]
) -> None:
    client, audit = numbers
    before = len(audit_lines(audit))
    response = outbound(client, record)
    assert response.status_code in (200, 422), (record, response.text)
    # crossings only: a run of 422s may also open a tracking incident (its own event)
    written = [line for line in audit_lines(audit)[before:] if '"event":' not in line]
    # A record the internal schema refuses never reaches translation, so it leaves no record;
    # every request that does leaves exactly one, saying what the caller got.
    assert len(written) == 1 if response.status_code == 200 else len(written) <= 1
    assert all(json.loads(line)["outcome"] == response.status_code for line in written)
    event(f"status {response.status_code}")
    if response.status_code == 422:
        assert all(e["pointer"].startswith("/") for e in response.json()["errors"])
        return
    body = response.json()
    assert _schema_valid(body), (record, body)
    for internal, external, digits in (("disk_usage", "diskUsage", -3),
                                       ("plain_count", "plainCount", -3),
                                       ("small_count", "smallCount", -1)):  # fmt: skip
        if internal in record:
            assert body[external] == round(record[internal], digits)  # exact, as Python ints


# -- proxy requests: one record, the status sent and the upstream's ------------------------------

Shim = tuple[TestClient, InternalAPI, Settings]


@pytest.mark.parametrize(
    ("internal_id", "sent", "upstream"),
    [(BROKEN, 502, 500), (MISSING, 404, 404), (SLOW, 504, None), (PLAIN, 200, 200)],
    ids=["upstream-500-is-502", "upstream-404-is-404", "timeout-is-504", "success"],
)
def test_proxy_request_leaves_one_record_with_the_status_sent_and_the_upstreams(
    shim: Shim, internal_id: str, sent: int, upstream: int | None
) -> None:
    client, _, settings_ = shim
    response = client.get(f"/customers/{token(internal_id)}", headers=headers())
    assert response.status_code == sent
    [event] = events(settings_)
    assert event["direction"] == "proxy"
    assert (event["outcome"], event["upstream_status"]) == (sent, upstream)
    assert event["records"] == (1 if sent == 200 else 0)


def test_proxy_path_that_names_nothing_leaves_one_record_saying_404(shim: Shim) -> None:
    client, api, settings_ = shim
    assert_problem(client.get("/customers/t1.not-a-token", headers=headers()), 404)
    assert api.seen == []
    [event] = events(settings_)
    assert (event["outcome"], event["upstream_status"]) == (404, None)


def test_proxy_refused_body_leaves_one_record_saying_422(shim: Shim) -> None:
    client, _, settings_ = shim
    url = f"/customers/{token(PLAIN)}"
    assert_problem(client.patch(url, json={"email": "x@example.com"}, headers=headers()), 422)
    [event] = events(settings_)
    assert (event["outcome"], event["upstream_status"]) == (422, None)


# -- proxy requests: what crossed inward is recorded too ------------------------------------------

IN_SUPPORT = ["customerId:tokenize", "status:map"]  # the support group's inbound fields


def test_proxy_write_answered_204_records_what_crossed_inward(shim: Shim) -> None:
    client, api, settings_ = shim
    url = f"/customers/{token(NO_CONTENT)}"
    response = client.patch(url, json={"status": "suspended"}, headers=headers())
    assert response.status_code == 204
    assert api.seen[-1]["body"] == {"status": "S"}  # the body crossed inward
    [forward, event] = events(settings_)  # a write is on record before it is sent
    assert (forward["event"], forward["request_id"]) == ("proxy-forward", event["request_id"])
    assert forward["fields_in"] == IN_SUPPORT
    assert (event["outcome"], event["upstream_status"]) == (204, 204)
    assert (event["records"], event["fields"]) == (0, [])  # nothing came back out
    assert (event["records_in"], event["fields_in"]) == (1, IN_SUPPORT)
    assert trail.verify(events(settings_)).ok


def test_proxy_read_records_the_path_value_it_forwarded(shim: Shim) -> None:
    client, _, settings_ = shim
    assert client.get(f"/customers/{token(PLAIN)}", headers=headers()).status_code == 200
    [event] = events(settings_)
    assert (event["records"], event["records_in"]) == (1, 1)
    assert event["fields_in"] == ["customerId:tokenize"]  # the path parameter only: no body
    assert "status:map" in event["fields"]  # the outbound view, as for POST /v1/outbound
    assert trail.verify(events(settings_)).ok


def test_proxy_request_forwarded_to_a_failing_upstream_records_what_crossed_inward(
    shim: Shim,
) -> None:
    client, _, settings_ = shim
    assert_problem(client.get(f"/customers/{token(BROKEN)}", headers=headers()), 502)
    [event] = events(settings_)
    assert (event["records"], event["fields"]) == (0, [])
    assert (event["records_in"], event["fields_in"]) == (1, ["customerId:tokenize"])


def test_proxy_request_refused_before_forwarding_records_nothing_inward(shim: Shim) -> None:
    client, api, settings_ = shim
    url = f"/customers/{token(PLAIN)}"
    assert_problem(client.patch(url, json={"email": "x@example.com"}, headers=headers()), 422)
    assert_problem(client.get("/customers/t1.not-a-token", headers=headers()), 404)
    assert api.seen == []
    assert [(e["records_in"], e["fields_in"]) for e in events(settings_)] == [(0, []), (0, [])]


def test_a_caller_that_leaves_mid_body_is_audited_499(shim: Shim) -> None:
    """The server cut off a body that trickled in too long (``MESSAGE_SECONDS``), or the
    client went away: the app sees ``http.disconnect`` mid-body. Nothing crossed, nothing
    is sent, and the audit record says so (499, no records), instead of no record at all."""
    client, _, settings_ = shim
    body = orjson.dumps({"id": "x" * 40})
    sent: list[dict[str, Any]] = []

    async def call() -> None:
        parts = [{"type": "http.request", "body": body[:10], "more_body": True}]

        async def receive() -> dict[str, Any]:
            return parts.pop(0) if parts else {"type": "http.disconnect"}

        async def send(message: dict[str, Any]) -> None:
            sent.append(message)

        scope = outbound_scope(headers(group="billing"), len(body))
        await client.app(scope, receive, send)

    assert client.portal is not None
    client.portal.call(call)
    assert [m for m in sent if m["type"] == "http.response.start"] == []
    [event] = events(settings_)
    assert (event["route"], event["outcome"], event["records"]) == ("POST /v1/outbound", 499, 0)


# -- a forwarded write is on record before it is sent -------------------------------------


def _failing(monkeypatch: pytest.MonkeyPatch, client: TestClient, refuse: Any) -> None:
    """Make the audit sink fail for the events ``refuse`` picks (and store the others)."""
    sink = client.app.state.shim.sink  # type: ignore[attr-defined]
    one, many = sink.append, getattr(sink, "append_many", None)

    def append(event: Any, *args: Any, **kwargs: Any) -> Any:
        if refuse(event):
            raise AuditError("disk full")
        return one(event, *args, **kwargs)

    def append_many(events: Any, *args: Any, **kwargs: Any) -> Any:
        if any(refuse(e) for e in events):
            raise AuditError("disk full")
        return many(events, *args, **kwargs)

    monkeypatch.setattr(sink, "append", append)
    if many is not None:
        monkeypatch.setattr(sink, "append_many", append_many)


def test_a_write_whose_crossing_record_fails_is_still_on_record(
    shim: Shim, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The crossing record is written once the internal API has answered: for a write,
    after it acted. If that record fails the caller gets 503, and before the forward
    event nothing said that the write had crossed inward (red-team, ninth pass)."""
    client, api, settings_ = shim
    _failing(monkeypatch, client, lambda e: "event" not in e)  # every crossing record fails
    seen = len(api.seen)
    url = f"/customers/{token(NO_CONTENT)}"
    response = client.patch(url, json={"status": "suspended"}, headers=headers())
    assert_problem(response, 503)
    assert len(api.seen) == seen + 1  # the internal API acted
    [forward] = [
        e for e in events(settings_) if e.get("request_id") == response.headers["x-request-id"]
    ]
    assert forward["event"] == "proxy-forward" and forward["fields_in"] == IN_SUPPORT


def test_a_write_is_not_sent_when_its_forward_event_cannot_be_stored(
    shim: Shim, monkeypatch: pytest.MonkeyPatch
) -> None:
    client, api, settings_ = shim
    _failing(monkeypatch, client, lambda e: e.get("event") == "proxy-forward")
    seen = len(api.seen)
    url = f"/customers/{token(NO_CONTENT)}"
    response = client.patch(url, json={"status": "suspended"}, headers=headers())
    assert_problem(response, 503)
    assert len(api.seen) == seen  # nothing was sent inward
    rid = response.headers["x-request-id"]
    [crossing] = [e for e in events(settings_) if e.get("request_id") == rid]
    assert (crossing["outcome"], crossing["records_in"], crossing["upstream_status"]) == (
        503, 0, None,
    )  # fmt: skip


def test_verify_holds_a_forward_event_to_its_grant() -> None:
    """A `proxy-forward` event under a grant is a crossing to `audit verify`: one by a
    caller other than the grant's holder is `grant misused`, as its crossing record is."""
    from shimgen.runtime.audit.grant_ledger import GrantLedger

    ledger = GrantLedger()
    activated = {"event": "grant-activated", "grant": "g-1", "caller": "key:alice",
                 "starts": "2026-12-01T10:00:00Z", "expires": "2026-12-01T11:00:00Z"}  # fmt: skip
    forward = {"event": "proxy-forward", "grant": "g-1", "caller": "key:mallory",
               "time": "2026-12-01T10:30:00Z"}  # fmt: skip
    for seq, record in enumerate((activated, forward), start=1):
        ledger.see(seq, {**record, "chain": "c", "seq": seq})
    [found] = ledger.breaks()
    assert (found.kind, found.seq) == ("grant misused", 2)


def test_verify_holds_a_forward_event_to_its_grants_time_and_group() -> None:
    """A `proxy-forward` event is the only record of a write whose crossing record then
    failed, so verify must hold it to everything it holds a crossing to. It has no
    `latency_ms`, and the ledger skipped the time check for any record without one: a
    write under an expired (or store-revived) grant passed (red-team, tenth pass)."""
    from shimgen.runtime.audit.grant_ledger import GrantLedger

    activated = {"event": "grant-activated", "grant": "g-1", "caller": "key:alice",
                 "group": "billing", "starts": "2026-12-01T10:00:00Z",
                 "expires": "2026-12-01T11:00:00Z"}  # fmt: skip
    cases = {
        "grant misused": [
            {"group": "billing", "time": "2026-12-01T15:30:00Z"},  # hours after its expiry
            {"group": "billing", "time": "2026-12-01T09:00:00Z"},  # before its activation
            {"group": "support", "time": "2026-12-01T10:30:00Z"},  # in another group
        ],
        None: [{"group": "billing", "time": "2026-12-01T10:30:00Z"}],
    }
    for kind, forwards in cases.items():
        for forward in forwards:
            ledger = GrantLedger()
            sent = {"event": "proxy-forward", "grant": "g-1", "caller": "key:alice", **forward}
            for seq, record in enumerate((activated, sent), start=1):
                ledger.see(seq, {**record, "chain": "c", "seq": seq})
            assert [(b.kind, b.seq) for b in ledger.breaks()] == ([(kind, 2)] if kind else []), (
                forward
            )


def test_a_query_parameter_forwarded_is_named_among_what_went_in(shim: Shim) -> None:
    """Declared query values reach the internal API unchanged: the record names them like
    fields (``?expand:pass``), and an undeclared one, which is dropped, not at all."""
    client, api, settings_ = shim
    url = f"/customers/{token(PLAIN)}?expand=cards&expand=notes&debug=1"
    response = client.get(url, headers=headers())
    assert response.status_code == 200
    assert "debug" not in str(api.seen[-1])
    rid = response.headers["x-request-id"]
    [event] = [e for e in events(settings_) if e.get("request_id") == rid]
    assert event["records_in"] == 1
    assert event["fields_in"] == ["customerId:tokenize", "?expand:pass"]


def _expand_route_write(internal_api: tuple[InternalAPI, str], tmp_path: Path) -> TestClient:
    """The customer shim whose PATCH route also forwards a declared query parameter."""
    import dataclasses

    from shimgen.runtime.service.app import build_app
    from tests.service_support import ROUTES, make_spec, write_callers

    _, base_url = internal_api
    routes = (ROUTES[0], dataclasses.replace(ROUTES[1], query=("expand",)), ROUTES[2])
    settings_ = Settings(
        callers_file=str(write_callers(tmp_path / "callers.yaml")),
        audit_url=f"jsonl:///{tmp_path / 'audit.jsonl'}",
        instance="test",
        upstream_url=base_url,
        upstream_timeout=0.5,
    )
    return TestClient(build_app(make_spec(routes=routes), settings_), raise_server_exceptions=False)


def test_a_query_too_long_to_forward_is_refused_before_anything_is_on_record_as_sent(
    internal_api: tuple[InternalAPI, str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A declared query value is decoded, then percent-encoded again for the internal
    API: `%FF` (3 bytes) decodes to U+FFFD and is sent as `%EF%BF%BD` (9), so a 24 KB
    query the shim accepts is one the client cannot build (httpx's 64 KiB URL limit).
    That raised at the send, after the proxy-forward event and `records_in: 1` were
    set: a 500 and an ERROR log at will, and a trail saying a value (and, on a write
    route, a write) crossed inward when nothing was sent (red-team, tenth pass).
    Now the request is built first: 414, nothing on record as sent."""
    api, _ = internal_api
    monkeypatch.setenv("SHIM_KEYS_FILE", str(KEYS_FILE))
    long_query = "?expand=" + "%FF" * 8000
    with _expand_route_write(internal_api, tmp_path) as client:
        seen = len(api.seen)
        url = f"/customers/{token(NO_CONTENT)}{long_query}"
        answers = [
            client.get(url, headers=headers()),
            client.patch(url, json={"status": "suspended"}, headers=headers()),
        ]
        assert len(api.seen) == seen  # nothing reached the internal API
    path = Path(str(tmp_path / "audit.jsonl"))
    written = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    for answer in answers:
        assert answer.status_code == 414, answer.text
        rid = answer.headers["x-request-id"]
        [record] = [e for e in written if e.get("request_id") == rid]  # no proxy-forward
        assert "event" not in record
        assert (record["outcome"], record["records_in"], record["fields_in"]) == (414, 0, [])
        assert record["upstream_status"] is None


def test_a_write_with_no_parameter_is_recorded_as_crossing_inward(
    internal_api: tuple[InternalAPI, str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """`DELETE /customers` -> `DELETE /internal/customers` is a valid route (no path
    parameter, no body, no query): its write was recorded `records_in: 0`, the record of
    a request refused before anything crossed, although the internal API was called and
    may have acted (red-team, tenth pass). A forwarded write is one record inward."""
    from shimgen.runtime.service.app import RouteSpec, build_app
    from tests.service_support import ROUTES, make_spec, write_callers

    _, base_url = internal_api
    monkeypatch.setenv("SHIM_KEYS_FILE", str(KEYS_FILE))
    wipe = RouteSpec(
        "DELETE", "/customers", "DELETE", "/internal/customers", (), frozenset({"support"}), (),
        False,
    )  # fmt: skip
    settings_ = Settings(
        callers_file=str(write_callers(tmp_path / "callers.yaml")),
        audit_url=f"jsonl:///{tmp_path / 'audit.jsonl'}",
        instance="test",
        upstream_url=base_url,
        upstream_timeout=0.5,
    )
    app = build_app(make_spec(routes=(*ROUTES, wipe)), settings_)
    with TestClient(app, raise_server_exceptions=False) as client:
        answer = client.delete("/customers", headers=headers())
    rid = answer.headers["x-request-id"]
    mine = [e for e in events(settings_) if e.get("request_id") == rid]
    assert [e.get("event") for e in mine] == ["proxy-forward", None]
    crossing = mine[1]
    assert crossing["upstream_status"] is not None  # the internal API was called
    assert crossing["records_in"] == 1
