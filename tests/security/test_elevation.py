"""Elevated groups (issue 13 §1): what a caller, an approver or an attacker can and cannot do.

Each test is one threat or one rule of the contract, named after it. The apps
are the real service runtime around the golden customer translator; several
apps sharing one SQLite audit store stand for several workers (each its own
connection, audit chain and event loop), with one controllable wall clock.
``billing`` is elevated: 2 approvals by members of ``support``, one holder at
a time, excluding ``support``, 900 s of break-glass (tests/security/elevation_support.py).
"""

from __future__ import annotations

import io
import json
import logging
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import anyio.to_thread
import pytest

from shimgen.runtime.audit import trail
from shimgen.runtime.audit.grant_ledger import SKEW
from shimgen.runtime.service import grant_model, logs
from shimgen.runtime.service import grants as grants_module
from shimgen.runtime.service.app import ElevatedSpec
from tests.security.elevation_support import (
    BILLING,
    act,
    active_grant,
    as_,
    as_jwt,
    cluster,
    outbound,
    request_grant,
)
from tests.service_support import KEYS_FILE, RECORD, outbound_scope
from tests.test_runtime_audit import pg_schema, schema_url  # noqa: F401 - pg_schema: a fixture

STORES = ["sqlite", "jsonl", "postgresql"]


@pytest.fixture(autouse=True)
def _keys_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SHIM_KEYS_FILE", str(KEYS_FILE))
    monkeypatch.delenv("SHIM_KEYS", raising=False)
    monkeypatch.delenv("PROMETHEUS_MULTIPROC_DIR", raising=False)


@pytest.fixture
def log_lines() -> Iterator[io.StringIO]:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logs.JsonFormatter())
    logs.logger.addHandler(handler)
    yield stream
    logs.logger.removeHandler(handler)


@pytest.fixture
def store(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """An audit URL of each kind (``@pytest.mark.parametrize("store", STORES, indirect=True)``);
    the grants live beside it: a SQLite side file, or a table in the PostgreSQL schema."""
    kind = getattr(request, "param", "sqlite")
    if kind == "sqlite":
        return f"sqlite:///{tmp_path / 'audit.db'}"
    if kind == "jsonl":
        return f"jsonl:///{tmp_path / 'audit.jsonl'}"
    return schema_url(request.getfixturevalue("postgres_url"), request.getfixturevalue("pg_schema"))


per_store = pytest.mark.parametrize("store", STORES, indirect=True)


# -- eligibility and approval -------------------------------------------------------------


def test_eligible_without_grant_is_403(tmp_path: Path) -> None:
    with cluster(tmp_path, workers=1) as c:
        answer = outbound(c.clients[0], "dave")
        assert answer.status_code == 403
        body = answer.json()
        assert body["type"].endswith("/no-active-grant")
        assert "no active grant for 'billing'" in body["detail"]
        assert "customer-shim access request billing" in body["detail"]  # the command to run
        refused = [r for r in c.records() if r.get("route") == "POST /v1/outbound"]
        assert [(r["caller"], r["group"], r["outcome"], r["records"]) for r in refused] == [
            ("key:dave", "billing", 403, 0)
        ]


def test_standing_group_needs_no_grant(tmp_path: Path) -> None:
    with cluster(tmp_path, workers=1) as c:
        answer = outbound(c.clients[0], "bob", "support")
        assert answer.status_code == 200
        (crossing,) = [r for r in c.records() if r.get("route") == "POST /v1/outbound"]
        assert "grant" not in crossing


def test_self_approval_is_refused(tmp_path: Path) -> None:
    with cluster(tmp_path, workers=1) as c:
        client = c.clients[0]
        gid = request_grant(client, "alice").json()["grant"]["id"]  # alice is in support too
        answer = act(client, "alice", gid, "approve")
        assert answer.status_code == 403
        assert answer.json()["type"].endswith("/self-approval")
        assert c.grant_events("grant-approved") == []


@per_store
def test_same_approver_twice_counts_once(tmp_path: Path, store: str) -> None:
    with cluster(tmp_path, audit_url=store, workers=2) as c:
        gid = request_grant(c.clients[0], "dave").json()["grant"]["id"]
        first = act(c.clients[0], "bob", gid, "approve")
        again = act(c.clients[1], "bob", gid, "approve")  # another worker, same approver
        assert first.status_code == again.status_code == 200
        assert again.json()["grant"]["state"] == "pending"
        assert again.json()["grant"]["approved_by"] == ["key:bob"]
        assert outbound(c.clients[1], "dave").status_code == 403
        assert len(c.grant_events("grant-approved")) == 1
        assert act(c.clients[1], "carol", gid, "approve").json()["grant"]["state"] == "active"
        assert outbound(c.clients[0], "dave").status_code == 200


def test_an_external_caller_in_an_approver_group_approves_nothing(tmp_path: Path) -> None:
    """A partner listed in an approver group by mistake neither vouches for access to
    internal data nor reads the reasons of other people's grants."""
    with cluster(tmp_path, workers=1) as c:
        client = c.clients[0]
        gid = request_grant(client, "dave").json()["grant"]["id"]
        assert act(client, "pat", gid, "approve").status_code == 404
        assert act(client, "pat", gid, "deny").status_code == 404
        listed = client.get("/v1/access/grants", headers=as_("pat"))
        assert listed.status_code == 200 and listed.json()["grants"] == []
        assert c.grant_events("grant-approved") == []


def test_a_white_space_variant_of_the_requester_cannot_approve(tmp_path: Path) -> None:
    with cluster(tmp_path, workers=1) as c:
        client = c.clients[0]
        gid = request_grant(client, "alice").json()["grant"]["id"]
        for variant in ("alice ", " alice", "Alice  "):  # no caller at all: refused at the door
            answer = client.post(
                f"/v1/access/grants/{gid}/approve", headers=as_jwt(variant, ("support",))
            )
            assert answer.status_code == 401, (variant, answer.text)
            assert "does not name a caller" in answer.json()["detail"]
        for variant in ("Alice", "ALICE"):  # a caller, but the requester folded
            answer = client.post(
                f"/v1/access/grants/{gid}/approve", headers=as_jwt(variant, ("support",))
            )
            assert answer.status_code == 403, (variant, answer.text)
            assert answer.json()["type"].endswith("/self-approval")


def test_non_approver_cannot_approve(tmp_path: Path) -> None:
    with cluster(tmp_path, workers=1) as c:
        client = c.clients[0]
        gid = request_grant(client, "dave").json()["grant"]["id"]
        answer = act(client, "erin", gid, "approve")  # eligible for billing, approves nothing
        assert answer.status_code == 404  # not even visible to erin: ids are no oracle
        assert act(client, "erin", gid, "deny").status_code == 404
        assert act(client, "erin", gid, "revoke").status_code == 404


def test_approving_a_forged_id_is_404(tmp_path: Path) -> None:
    with cluster(tmp_path, workers=1) as c:
        client = c.clients[0]
        for forged in ("g-000000000000000000000000", "' OR 1=1 --", "%00", "x" * 300):
            answer = client.post(f"/v1/access/grants/{forged}/approve", headers=as_("bob"))
            assert answer.status_code == 404, forged
            assert forged not in answer.text


@per_store
def test_racing_two_approvals_activate_once(tmp_path: Path, store: str) -> None:
    with cluster(tmp_path, audit_url=store, workers=2) as c:
        gid = request_grant(c.clients[0], "dave").json()["grant"]["id"]
        results: list[int] = []

        def approve(i: int, name: str) -> None:
            results.append(act(c.clients[i], name, gid, "approve").status_code)

        threads = [
            threading.Thread(target=approve, args=(0, "bob")),
            threading.Thread(target=approve, args=(1, "carol")),
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert results == [200, 200]
        assert len(c.grant_events("grant-approved")) == 2
        assert len(c.grant_events("grant-activated")) == 1


def test_request_longer_than_max_is_refused(tmp_path: Path) -> None:
    with cluster(tmp_path, workers=1) as c:
        client = c.clients[0]
        for seconds in (BILLING.max_seconds + 1, 0, -5, 1.5, True, "60"):
            answer = request_grant(client, "dave", seconds=seconds)
            assert answer.status_code == 422, seconds
        assert c.grant_events() == []


def test_requesting_a_standing_or_unknown_group_is_refused(tmp_path: Path) -> None:
    with cluster(tmp_path, workers=1) as c:
        client = c.clients[0]
        standing = request_grant(client, "bob", group="support")
        assert standing.status_code == 422
        assert standing.json()["type"].endswith("/not-elevated")
        assert request_grant(client, "bob", group="root").status_code == 422
        not_member = request_grant(client, "bob")  # bob is not eligible for billing
        assert not_member.status_code == 403
        assert not_member.json()["type"].endswith("/not-eligible")
        assert "the callers file does not list it for you" in not_member.json()["detail"]


@pytest.mark.parametrize(
    "body",
    [
        {"reason": "line one\nforged: audit line"},
        {"reason": "bell\x07"},
        {"reason": ""},
        {"reason": "r" * 1025},
        {"reason": 7},
        {"reason": "ok", "ticket": "TCK\r\n1"},
        {"reason": "ok", "extra": "member"},
        {"reason": "ok", "break_glass": "yes"},
    ],
    ids=["newline", "control", "empty", "too-long", "not-text", "ticket-crlf", "extra", "glass"],
)
def test_reason_and_body_are_checked(tmp_path: Path, body: dict[str, object]) -> None:
    with cluster(tmp_path, workers=1) as c:
        answer = request_grant(c.clients[0], "dave", **body)
        assert answer.status_code == 422
        assert c.grant_events() == []


def test_requests_need_credentials(tmp_path: Path) -> None:
    with cluster(tmp_path, workers=1) as c:
        client = c.clients[0]
        assert client.post("/v1/access/grants", json={"group": "billing"}).status_code == 401
        assert client.get("/v1/access/grants").status_code == 401
        bad = {"X-API-Key": "nope"}
        assert client.post("/v1/access/grants/g-1/approve", headers=bad).status_code == 401


# -- a second credential of the same person -----------------------------------------------


def test_self_approval_with_a_second_credential_is_refused(tmp_path: Path) -> None:
    with cluster(tmp_path, workers=1) as c:
        client = c.clients[0]
        gid = request_grant(client, "dave").json()["grant"]["id"]  # dave's API key asks
        url = f"/v1/access/grants/{gid}/approve"
        answer = client.post(url, headers=as_jwt("dave", ("support",)))  # dave's JWT approves
        assert answer.status_code == 403
        assert answer.json()["type"].endswith("/self-approval")


def test_one_approver_with_two_credentials_counts_once(tmp_path: Path) -> None:
    with cluster(tmp_path, workers=1) as c:
        client = c.clients[0]
        gid = request_grant(client, "dave").json()["grant"]["id"]
        assert act(client, "bob", gid, "approve").status_code == 200
        url = f"/v1/access/grants/{gid}/approve"
        again = client.post(url, headers=as_jwt("bob", ("support",)))
        assert again.status_code == 200
        assert again.json()["grant"]["state"] == "pending"
        assert len(again.json()["grant"]["approved_by"]) == 1


def test_a_second_credential_neither_uses_the_grant_nor_escapes_its_exclusion(
    tmp_path: Path,
) -> None:
    with cluster(tmp_path, workers=1) as c:
        client = c.clients[0]
        active_grant(client, "alice")  # held by alice's API key
        record = {"json": RECORD}
        in_billing = client.post(
            "/v1/outbound", headers=as_jwt("alice", ("billing",), "billing"), **record
        )
        assert in_billing.status_code == 403
        assert "credential that requested it" in in_billing.json()["detail"]
        in_support = client.post(
            "/v1/outbound", headers=as_jwt("alice", ("support",), "support"), **record
        )
        assert in_support.status_code == 403
        assert in_support.json()["type"].endswith("/excluded-group")
        again = client.post(
            "/v1/access/grants",
            json={"group": "billing", "reason": "second credential"},
            headers=as_jwt("alice", ("billing",)),
        )
        assert again.status_code == 409


def test_an_approver_shut_out_by_its_own_grant_does_not_read_the_groups_requests(
    tmp_path: Path,
) -> None:
    """alice approves billing as a member of support, but her own billing grant excludes
    support: she may not approve dave's request (403), and she no longer lists it with
    its reason and ticket either (red-team, seventh pass)."""
    with cluster(tmp_path, workers=1) as c:
        client = c.clients[0]
        own = active_grant(client, "alice")
        theirs = request_grant(client, "dave", ticket="INC-1234").json()["grant"]["id"]
        assert act(client, "alice", theirs, "approve").json()["type"].endswith("/excluded-group")
        listed = client.get("/v1/access/grants", headers=as_("alice")).json()["grants"]
        assert [g["id"] for g in listed] == [own]
        by_bob = client.get("/v1/access/grants", headers=as_("bob")).json()["grants"]
        assert {g["id"] for g in by_bob} == {own, theirs}
        act(client, "alice", own, "revoke")  # the exclusion ends with her grant
        listed = client.get("/v1/access/grants", headers=as_("alice")).json()["grants"]
        assert {g["id"] for g in listed} == {own, theirs}


# -- expiry and revocation -----------------------------------------------------------------


@per_store
def test_expiry_at_second_n_is_enforced_at_second_n_on_every_worker(
    tmp_path: Path, store: str
) -> None:
    with cluster(tmp_path, audit_url=store, workers=2) as c:
        start = c.clock.now
        answer = request_grant(c.clients[0], "dave", seconds=60)
        gid = answer.json()["grant"]["id"]
        act(c.clients[0], "bob", gid, "approve")
        activated = act(c.clients[1], "carol", gid, "approve").json()["grant"]
        assert activated["state"] == "active"
        c.clock.now = start + 59.999
        assert [outbound(w, "dave").status_code for w in c.clients] == [200, 200]
        c.clock.now = start + 60  # second N: refused everywhere, with no tail
        assert [outbound(w, "dave").status_code for w in c.clients] == [403, 403]
        expired = c.grant_events("grant-expired")
        assert len(expired) == 1  # noticed by both workers, recorded once
        assert expired[0]["grant"] == gid and expired[0]["request_id"] is None
        assert expired[0]["actor"] is None


@per_store
def test_revoked_grant_is_refused_at_once_on_another_worker(tmp_path: Path, store: str) -> None:
    with cluster(tmp_path, audit_url=store, workers=2) as c:
        gid = active_grant(c.clients[0], "dave")
        assert outbound(c.clients[1], "dave").status_code == 200
        revoked = act(c.clients[0], "bob", gid, "revoke", reason="left the incident")
        assert revoked.status_code == 200 and revoked.json()["grant"]["state"] == "revoked"
        assert outbound(c.clients[1], "dave").status_code == 403
        (event,) = c.grant_events("grant-revoked")
        assert (event["actor"], event["reason"]) == ("key:bob", "left the incident")


def test_holder_can_end_its_own_grant_early(tmp_path: Path) -> None:
    with cluster(tmp_path, workers=1) as c:
        gid = active_grant(c.clients[0], "dave")
        assert act(c.clients[0], "dave", gid, "revoke").status_code == 200
        assert outbound(c.clients[0], "dave").status_code == 403
        assert act(c.clients[0], "dave", gid, "revoke").status_code == 409


@per_store
def test_a_request_nobody_approves_lapses_after_a_day(tmp_path: Path, store: str) -> None:
    """An approval a week later must not activate a reason nobody remembers."""
    with cluster(tmp_path, audit_url=store, workers=2) as c:
        start = c.clock.now
        gid = request_grant(c.clients[0], "dave").json()["grant"]["id"]
        act(c.clients[0], "bob", gid, "approve")
        c.clock.now = start + grants_module.REQUEST_TTL - 1
        assert request_grant(c.clients[1], "dave").status_code == 409  # still pending: one group
        c.clock.now = start + grants_module.REQUEST_TTL
        late = act(c.clients[1], "carol", gid, "approve")
        assert late.status_code == 409 and "expired" in late.json()["detail"]
        # when and why, so the late approver knows the requester must ask again
        assert late.json()["detail"] == (
            f"the grant is expired, not pending: the request lapsed at "
            f"{grant_model.iso(start + grants_module.REQUEST_TTL)} (a request not active 24 h "
            "after it was made lapses); a new request is needed"
        )
        assert outbound(c.clients[0], "dave").status_code == 403
        (event,) = c.grant_events("grant-expired")
        assert event["grant"] == gid and event["starts"] is None and event["actor"] is None
        assert request_grant(c.clients[0], "dave").status_code == 201  # free to ask again


def test_a_queued_request_lapses_instead_of_activating_days_later(tmp_path: Path) -> None:
    """Behind day-long grants a queue could hand a slot to a caller who asked days ago."""
    day = grants_module.REQUEST_TTL
    rule = BILLING.__class__(day, 2, frozenset({"support"}), max_holders=1)
    with cluster(tmp_path, workers=1, billing=rule) as c:
        client = c.clients[0]
        start = c.clock.now
        holder = active_grant(client, "dave")  # a day long
        c.clock.now = start + 600
        erin = active_grant(client, "erin")  # approved, queued behind dave
        c.clock.now = start + 3600
        alice = active_grant(client, "alice", approvers=("bob", "carol"))  # queued behind erin
        c.clock.now = start + day  # dave expires, erin's turn (she asked 23 h 50 min ago)
        assert outbound(client, "erin").status_code == 200
        c.clock.now = start + 3600 + day  # alice's request is a day old: it lapses
        assert outbound(client, "alice").status_code == 403
        c.clock.now = start + 600 + 2 * day  # erin's grant ends; nobody is queued any more
        assert outbound(client, "alice").status_code == 403
        client.get("/v1/access/grants", headers=as_("bob"))  # the list sweeps: erin's expiry
        assert [e["grant"] for e in c.grant_events("grant-activated")] == [holder, erin]
        assert [e["grant"] for e in c.grant_events("grant-expired")] == [holder, alice, erin]
        # a grant that ran its time is just expired; a request that never started lapsed
        ran = act(client, "erin", erin, "revoke").json()["detail"]
        assert ran == "the grant is expired already"
        lapsed = act(client, "alice", alice, "revoke").json()["detail"]
        assert lapsed.startswith("the grant is expired already: the request lapsed at ")
        denied = act(client, "bob", alice, "deny").json()["detail"]
        assert denied.startswith("the grant is expired: the request lapsed at ")


# -- holder limit, exclusion, one group per caller ----------------------------------------------


@per_store
def test_holder_limit_queues_and_activates_oldest_first(tmp_path: Path, store: str) -> None:
    with cluster(tmp_path, audit_url=store, workers=2) as c:
        first = active_grant(c.clients[0], "dave")
        asked = request_grant(c.clients[1], "erin")
        assert "holder limit" in asked.json()["note"]
        gid = asked.json()["grant"]["id"]
        act(c.clients[1], "bob", gid, "approve")
        waiting = act(c.clients[1], "carol", gid, "approve").json()
        assert waiting["grant"]["state"] == "queued"
        assert "waits in the queue" in waiting["note"]
        assert outbound(c.clients[0], "erin").status_code == 403
        act(c.clients[0], "dave", first, "revoke")  # the slot frees: erin's grant activates
        assert outbound(c.clients[1], "erin").status_code == 200
        assert [e["grant"] for e in c.grant_events("grant-activated")] == [first, gid]


def test_queued_grant_activates_when_the_holder_expires(tmp_path: Path) -> None:
    with cluster(tmp_path, workers=2) as c:
        start = c.clock.now
        active_grant(c.clients[0], "dave")  # the full 3600 s
        gid = request_grant(c.clients[1], "erin", seconds=120).json()["grant"]["id"]
        act(c.clients[1], "bob", gid, "approve")
        act(c.clients[1], "carol", gid, "approve")
        c.clock.now = start + 3600
        assert outbound(c.clients[0], "erin").status_code == 200  # her request sweeps
        c.clock.now = start + 3600 + 120
        assert outbound(c.clients[1], "erin").status_code == 403  # 120 s from activation


@per_store
def test_a_queued_caller_cannot_make_every_request_take_the_write_lock(
    tmp_path: Path, store: str
) -> None:
    """A caller whose approved grant waits behind a full group sends guarded requests (403):
    none of them, nor the periodic sweeps, takes the grant store's write lock (one writer
    over every replica) while nothing can change; the slot freeing still activates it."""
    with cluster(tmp_path, audit_url=store, workers=2) as c:
        start = c.clock.now
        active_grant(c.clients[0], "dave")
        queued = active_grant(c.clients[1], "erin")
        locks = 0
        for client in c.clients:
            grants = client.app.state.shim.access.grants  # type: ignore[attr-defined]
            exclusive = grants.db.exclusive

            def counted(exclusive: Callable[[], Any] = exclusive) -> Any:
                nonlocal locks
                locks += 1
                return exclusive()

            grants.db.exclusive = counted
        codes = [outbound(c.clients[i % 2], "erin").status_code for i in range(20)]
        for client in c.clients:
            client.app.state.shim.access.grants.sweep()  # type: ignore[attr-defined]
        assert codes == [403] * 20 and locks == 0
        c.clock.now = start + 3600  # dave's grant ends: the next request hands erin the slot
        assert outbound(c.clients[0], "erin").status_code == 200
        assert locks >= 1
        assert [e["grant"] for e in c.grant_events("grant-activated")][-1] == queued


def test_an_approver_waiting_for_the_slot_cannot_revoke_its_holder(tmp_path: Path) -> None:
    """alice approves billing and is eligible for it: with her own request waiting (pending or
    queued) she would free the only slot for herself by revoking dave. Another approver
    decides that; her own request she may still withdraw."""
    with cluster(tmp_path, workers=2) as c:
        dave = active_grant(c.clients[0], "dave")
        pending = request_grant(c.clients[1], "alice").json()["grant"]["id"]
        refused = act(c.clients[1], "alice", dave, "revoke")
        assert refused.status_code == 409 and refused.json()["type"].endswith("/revoke-conflict")
        act(c.clients[0], "bob", pending, "approve")
        act(c.clients[0], "carol", pending, "approve")  # queued behind dave
        assert act(c.clients[0], "alice", dave, "revoke").status_code == 409
        assert outbound(c.clients[1], "dave").status_code == 200  # still held
        assert not c.grant_events("grant-revoked")
        assert act(c.clients[1], "bob", dave, "revoke").status_code == 200
        assert outbound(c.clients[0], "alice").status_code == 200  # the slot went to her
        assert act(c.clients[0], "alice", pending, "revoke").status_code == 200  # her own


def test_an_approver_waiting_for_the_slot_cannot_deny_the_queue_ahead(tmp_path: Path) -> None:
    """Denying is ending too: alice, waiting for billing herself, cannot deny erin's queued
    grant (nor a pending request) to move up; another approver decides."""
    with cluster(tmp_path, workers=1) as c:
        client = c.clients[0]
        active_grant(client, "dave")
        erin = active_grant(client, "erin")  # approved, queued behind dave
        request_grant(client, "alice")  # alice waits too
        refused = act(client, "alice", erin, "deny")
        assert refused.status_code == 409 and refused.json()["type"].endswith("/revoke-conflict")
        assert c.grant_events("grant-denied") == []
        assert act(client, "bob", erin, "deny").status_code == 200  # another approver may


@per_store
def test_racing_last_approvals_never_pass_the_holder_limit(tmp_path: Path, store: str) -> None:
    """Two grants get their last approval at once on two workers: one activates, one queues."""
    with cluster(tmp_path, audit_url=store, workers=2) as c:
        grants = [
            request_grant(c.clients[0], who).json()["grant"]["id"] for who in ("dave", "erin")
        ]
        for gid in grants:
            act(c.clients[0], "bob", gid, "approve")
        states: list[str] = []

        def last(i: int, gid: str) -> None:
            states.append(act(c.clients[i], "carol", gid, "approve").json()["grant"]["state"])

        threads = [threading.Thread(target=last, args=(i, g)) for i, g in enumerate(grants)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert sorted(states) == ["active", "queued"]
        assert len(c.grant_events("grant-activated")) == 1


@per_store
def test_racing_requests_of_one_caller_make_one_grant(tmp_path: Path, store: str) -> None:
    with cluster(tmp_path, audit_url=store, workers=2) as c:
        codes: list[int] = []

        def ask(i: int) -> None:
            codes.append(request_grant(c.clients[i % 2], "dave").status_code)

        threads = [threading.Thread(target=ask, args=(i,)) for i in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert sorted(codes) == [201, 409, 409, 409]
        assert len(c.grant_events("grant-requested")) == 1


@per_store
def test_excluded_groups_are_never_active_together(tmp_path: Path, store: str) -> None:
    with cluster(tmp_path, audit_url=store, workers=2) as c:
        assert outbound(c.clients[0], "alice", "support").status_code == 200
        gid = active_grant(c.clients[0], "alice")
        assert outbound(c.clients[1], "alice", "billing").status_code == 200
        refused = outbound(c.clients[1], "alice", "support")
        assert refused.status_code == 403
        assert refused.json()["type"].endswith("/excluded-group")
        act(c.clients[0], "alice", gid, "revoke")
        assert outbound(c.clients[1], "alice", "support").status_code == 200


def test_one_elevated_group_per_caller(tmp_path: Path) -> None:
    rules = {
        "billing": BILLING,
        "support": BILLING.__class__(600, 1, frozenset({"billing"})),
    }
    with cluster(tmp_path, workers=1, **rules) as c:
        client = c.clients[0]
        request_grant(client, "alice")
        again = request_grant(client, "alice", group="support")
        assert again.status_code == 409
        assert again.json()["type"].endswith("/one-elevated-group")
        assert "one elevated group at a time" in again.json()["detail"]
        assert "you already have a pending grant for 'billing'" in again.json()["detail"]
        twice = request_grant(client, "alice")
        assert twice.status_code == 409
        active_grant(client, "dave")  # the article follows the state: "an active"
        held = request_grant(client, "dave")
        assert "you already have an active grant for 'billing'" in held.json()["detail"]


# -- break-glass -----------------------------------------------------------------------------


def test_break_glass_alerts(tmp_path: Path, log_lines: io.StringIO) -> None:
    with cluster(tmp_path, workers=1) as c:
        client = c.clients[0]
        # at 0 before any grant: the alert's increase() needs a sample before the first one
        assert 'shim_grant_break_glass_total{group="billing"} 0.0' in client.get("/metrics").text
        answer = request_grant(client, "dave", break_glass=True, reason="prod outage, INC-9")
        assert answer.status_code == 201
        grant = answer.json()["grant"]
        assert grant["state"] == "active" and grant["break_glass"] is True
        assert grant["seconds"] == BILLING.break_glass_seconds  # capped: the default
        assert outbound(client, "dave").status_code == 200
        # the alert: an audit event, a metric and a WARNING line
        (event,) = c.grant_events("grant-break-glass")
        assert event["grant"] == grant["id"] and event["reason"] == "prod outage, INC-9"
        metrics = client.get("/metrics").text
        assert 'shim_grant_break_glass_total{group="billing"} 1.0' in metrics
        warnings = [json.loads(line) for line in log_lines.getvalue().splitlines()]
        alert = [w for w in warnings if w.get("event") == "grant-break-glass"]
        assert alert and alert[0]["level"] == "warning" and alert[0]["grant"] == grant["id"]
        assert "INC-9" not in log_lines.getvalue()  # the reason is free text: never logged
        # listed for after-the-fact review, for approvers
        listed = client.get("/v1/access/grants", headers=as_("bob")).json()
        assert listed["review"] == [grant["id"]]


def test_break_glass_is_capped(tmp_path: Path) -> None:
    with cluster(tmp_path, workers=1) as c:
        over = request_grant(c.clients[0], "dave", break_glass=True, seconds=901)
        assert over.status_code == 422
        no_glass = {"billing": BILLING.__class__(600, 1, frozenset({"support"}))}
    with cluster(tmp_path / "b", workers=1, **no_glass) as c:
        refused = request_grant(c.clients[0], "dave", break_glass=True)
        assert refused.status_code == 403
        assert refused.json()["type"].endswith("/no-break-glass")


@per_store
def test_break_glass_cannot_be_renewed_back_to_back(tmp_path: Path, store: str) -> None:
    """Chained emergency grants would be standing access without approval; a second
    credential of the same person gains nothing, another person is not held back."""
    with cluster(tmp_path, audit_url=store, workers=1) as c:
        client = c.clients[0]
        start = c.clock.now
        first = request_grant(client, "dave", break_glass=True).json()["grant"]
        c.clock.now = start + BILLING.break_glass_seconds  # expired
        again = request_grant(client, "dave", break_glass=True)
        assert again.status_code == 409
        assert again.json()["type"].endswith("/break-glass-cooldown")
        assert "request a grant with approval" in again.json()["detail"]
        second = client.post(
            "/v1/access/grants",
            json={"group": "billing", "reason": "outage", "break_glass": True},
            headers=as_jwt("dave", ("billing",)),
        )
        assert second.status_code == 409  # the same person with another credential
        assert request_grant(client, "dave").status_code == 201  # the approved path stays open
        assert request_grant(client, "erin", break_glass=True).status_code == 201
        c.clock.now = start + grants_module.BREAK_GLASS_COOLDOWN
        act(client, "dave", request_grant_id(c, "dave"), "revoke")
        assert request_grant(client, "dave", break_glass=True).status_code == 201
        assert len(c.grant_events("grant-break-glass")) == 3
        assert first["id"] in client.get("/v1/access/grants", headers=as_("bob")).json()["review"]


def request_grant_id(c: Any, name: str) -> str:
    """The id of ``name``'s live grant, from its own list."""
    listed = c.clients[0].get("/v1/access/grants", headers=as_(name)).json()["grants"]
    return next(g["id"] for g in listed if g["state"] in grants_module.LIVE)


# -- the audit trail -------------------------------------------------------------------------------


@per_store
def test_crossing_carries_grant_id(tmp_path: Path, store: str) -> None:
    with cluster(tmp_path, audit_url=store, workers=1) as c:
        gid = active_grant(c.clients[0], "dave")
        assert outbound(c.clients[0], "dave").status_code == 200
        (crossing,) = [
            r for r in c.records() if r.get("route") == "POST /v1/outbound" and r["outcome"] == 200
        ]
        assert crossing["grant"] == gid


@per_store
def test_grant_events_verify_in_the_chain(tmp_path: Path, store: str) -> None:
    with cluster(tmp_path, audit_url=store, workers=2) as c:
        start = c.clock.now
        gid = active_grant(c.clients[0], "dave")
        denied = request_grant(c.clients[1], "erin").json()["grant"]["id"]
        act(c.clients[1], "bob", denied, "deny")
        c.clock.now = start + 3600
        outbound(c.clients[1], "dave")
        request_grant(c.clients[0], "erin", break_glass=True)
        act(c.clients[0], "bob", gid, "revoke")  # already expired: 409, audited
    records = list(trail.read_records(c.audit_url))
    verdict = trail.verify(records)
    assert verdict.ok, str(verdict)
    kinds = [r["event"] for r in records if str(r.get("event", "")).startswith("grant-")]
    assert set(kinds) == {
        "grant-requested", "grant-approved", "grant-denied", "grant-activated",
        "grant-expired", "grant-break-glass",
    }  # fmt: skip
    assert any(r.get("direction") == "access" and r["outcome"] == 409 for r in records)


def test_a_grant_change_whose_event_cannot_be_recorded_does_not_happen(tmp_path: Path) -> None:
    with cluster(tmp_path, workers=1) as c:
        shim = c.clients[0].app.state.shim  # type: ignore[attr-defined]
        shim.sink.close()
        answer = request_grant(c.clients[0], "dave")
        assert answer.status_code == 503
        rows = shim.access.grants.db.read("SELECT COUNT(*) FROM grants")
        assert rows[0][0] == 0


def test_openapi_lists_the_grant_endpoints(tmp_path: Path) -> None:
    with cluster(tmp_path, workers=1) as c:
        doc = c.clients[0].get("/openapi.json", headers=as_("bob")).json()
        assert {"post", "get"} <= set(doc["paths"]["/v1/access/grants"])
        for action in ("approve", "deny", "revoke"):
            assert "post" in doc["paths"][f"/v1/access/grants/{{grant}}/{action}"]
        assert doc["components"]["schemas"]["GrantRequest"]["properties"]["group"]["enum"] == [
            "billing"
        ]


# -- namesakes and slow requests (second attacker pass) -------------------------------------


def test_a_subject_holding_a_hash_is_refused(tmp_path: Path) -> None:
    """``m#dave`` would read as dave behind the issuer: such a subject never authenticates."""
    with cluster(tmp_path, workers=1) as c:
        answer = c.clients[0].get("/v1/access/grants", headers=as_jwt("m#dave", ()))
        assert answer.status_code == 401


def test_a_namesake_credential_neither_sees_nor_revokes_a_grant(tmp_path: Path) -> None:
    """The rules that restrict go by person; ownership goes by the very credential."""
    with cluster(tmp_path, workers=1) as c:
        client = c.clients[0]
        gid = active_grant(client, "dave")
        listed = client.get("/v1/access/grants", headers=as_jwt("dave", ("billing",)))
        assert listed.status_code == 200
        assert gid not in listed.text
        revoke = client.post(
            f"/v1/access/grants/{gid}/revoke", headers=as_jwt("dave", ("billing",))
        )
        assert revoke.status_code == 404
        assert outbound(client, "dave").status_code == 200


def test_a_case_variant_of_the_requester_cannot_approve(tmp_path: Path) -> None:
    with cluster(tmp_path, workers=1) as c:
        client = c.clients[0]
        gid = request_grant(client, "dave").json()["grant"]["id"]
        answer = client.post(
            f"/v1/access/grants/{gid}/approve", headers=as_jwt("Dave", ("support",))
        )
        assert answer.status_code == 403
        assert answer.json()["type"].endswith("/self-approval")


def _slow_outbound(client: Any, name: str, group: str, meanwhile: Callable[[], object]) -> int:
    """POST /v1/outbound whose body arrives in two parts, ``meanwhile`` run between them."""
    body = json.dumps(RECORD).encode()
    scope = outbound_scope(as_(name, group), len(body))
    statuses: list[int] = []

    async def run() -> None:
        parts = [body[:10], body[10:]]

        async def receive() -> dict[str, Any]:
            if len(parts) == 1:  # the gate has passed: the rest comes after `meanwhile`
                await anyio.to_thread.run_sync(meanwhile)
            part = parts.pop(0)
            return {"type": "http.request", "body": part, "more_body": bool(parts)}

        async def send(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                statuses.append(message["status"])

        await client.app(scope, receive, send)

    client.portal.call(run)
    return statuses[0]


def test_a_revocation_while_the_body_is_read_stops_the_request(tmp_path: Path) -> None:
    """No tail: the gate passed, then the grant was revoked on another worker, then the body."""
    with cluster(tmp_path, workers=2) as c:
        gid = active_grant(c.clients[0], "dave")
        status = _slow_outbound(
            c.clients[0], "dave", "billing", lambda: act(c.clients[1], "dave", gid, "revoke")
        )
        assert status == 403
        crossings = [r for r in c.records() if r.get("route") == "POST /v1/outbound"]
        assert [(r["outcome"], r["records"]) for r in crossings] == [(403, 0)]


def test_an_exclusion_holds_for_a_request_already_past_the_gate(tmp_path: Path) -> None:
    """A slow request in an excluded group, then a grant: the slow one may not cross too."""
    with cluster(tmp_path, workers=1) as c:
        client = c.clients[0]
        status = _slow_outbound(client, "alice", "support", lambda: active_grant(client, "alice"))
        assert status == 403  # billing (now held) excludes support


def test_a_tracking_deny_holds_for_a_request_already_past_the_gate(tmp_path: Path) -> None:
    """No tail for tracking's deny either: bob opens a request whose body comes slowly,
    probes until tracking denies him, then sends the rest. The deny was checked only at
    the gate, so the slow request (one of as many as his burst allows) still crossed."""
    with cluster(tmp_path, workers=1, tracking={"probing": "deny"}) as c:
        client = c.clients[0]

        def probe() -> None:
            for _ in range(12):  # 403s in billing without a grant: probing, deny
                outbound(client, "bob")
            assert outbound(client, "bob", "support").json()["type"].endswith("/tracking-denied")

        assert _slow_outbound(client, "bob", "support", probe) == 403
        crossings = [r for r in c.records() if r.get("route") == "POST /v1/outbound"]
        assert [r["records"] for r in crossings if r["group"] == "support"] == [0, 0]


def test_a_caller_tracking_denies_cannot_approve_or_request_either(tmp_path: Path) -> None:
    """Tracking's deny holds on the grant endpoints too, not only on crossings."""
    with cluster(tmp_path, workers=1, tracking={"probing": "deny"}) as c:
        client = c.clients[0]
        gid = request_grant(client, "dave").json()["grant"]["id"]
        for _ in range(12):  # bob probes billing without a grant: 403s, probing
            assert outbound(client, "bob").status_code == 403
        refused = act(client, "bob", gid, "approve")
        assert refused.status_code == 403
        assert refused.json()["type"].endswith("/tracking-denied")
        assert c.grant_events("grant-approved") == []
        assert act(client, "carol", gid, "approve").status_code == 200  # others still can


def test_a_person_tracking_denies_gains_nothing_with_a_second_credential(tmp_path: Path) -> None:
    """bob probes billing with his API key until tracking denies him; his JWT (the same side
    and name) is denied too, on crossings and on the grant endpoints: tracking's baselines,
    counts and effects go by side and name, not by credential."""
    with cluster(tmp_path, workers=1, tracking={"probing": "deny"}) as c:
        client = c.clients[0]
        gid = request_grant(client, "dave").json()["grant"]["id"]
        for _ in range(12):
            outbound(client, "bob")
        assert outbound(client, "bob", "support").status_code == 403
        jwt = as_jwt("bob", ("support",), "support")
        refused = client.post("/v1/outbound", json=RECORD, headers=jwt)
        assert refused.status_code == 403, refused.text
        assert refused.json()["type"].endswith("/tracking-denied")
        approve = client.post(
            f"/v1/access/grants/{gid}/approve", headers=as_jwt("bob", ("support",))
        )
        assert approve.status_code == 403
        assert c.grant_events("grant-approved") == []


@pytest.mark.parametrize(
    "attacker",
    [
        pytest.param(
            lambda: as_jwt("\uff22\uff2f\uff22", (), "billing"), id="fullwidth-look-alike"
        ),
        pytest.param(lambda: as_jwt("Bob", (), "billing"), id="case-variant"),
    ],
)
def test_a_namesake_cannot_get_another_person_denied_by_tracking(
    tmp_path: Path, attacker: Callable[[], dict[str, str]]
) -> None:
    """Anyone with a token whose subject folds to bob's name (a look-alike, a case variant)
    probes until tracking denies it: bob himself is not denied, and the incident names the
    attacker's subject, not bob."""
    with cluster(tmp_path, workers=1, tracking={"probing": "deny"}) as c:
        client = c.clients[0]
        gid = request_grant(client, "dave").json()["grant"]["id"]
        headers = attacker()
        for _ in range(12):
            assert client.post("/v1/outbound", json=RECORD, headers=headers).status_code == 403
        denied = client.post("/v1/outbound", json=RECORD, headers=headers)
        assert denied.json()["type"].endswith("/tracking-denied")
        assert outbound(client, "bob", "support").status_code == 200
        assert act(client, "bob", gid, "approve").status_code == 200
        (opened,) = [r for r in c.records() if r.get("event") == "incident-opened"]
        assert opened["caller"] != "internal:bob"


def test_guessing_grant_ids_is_probing(tmp_path: Path) -> None:
    """A grant the caller may not see is a 404, like one that does not exist (ids are no
    oracle); a caller walking made-up ids is refused each time, and was never counted
    as probing (red-team, seventh pass). Now it is, and a deny stops it."""
    with cluster(tmp_path, workers=1, tracking={"probing": "deny"}) as c:
        client = c.clients[0]
        answers = [act(client, "bob", f"g-{i:024x}", "approve") for i in range(12)]
        assert [a.status_code for a in answers[:10]] == [404] * 10
        assert answers[-1].json()["type"].endswith("/tracking-denied")
        (opened,) = [r for r in c.records() if r.get("event") == "incident-opened"]
        assert (opened["caller"], opened["kind"]) == ("internal:bob", "probing")


def test_a_partner_cannot_get_an_employee_of_its_name_denied(tmp_path: Path) -> None:
    """pat is a partner's API key (external); an employee's JWT subject is pat as well. The
    partner's probing is the partner's: the sides never share tracking state."""
    with cluster(tmp_path, workers=1, tracking={"probing": "deny"}) as c:
        client = c.clients[0]
        for _ in range(13):
            client.post("/v1/outbound", json=RECORD, headers=as_("pat", "support"))
        employee = client.post(
            "/v1/outbound", json=RECORD, headers=as_jwt("pat", ("support",), "support")
        )
        assert employee.status_code == 200, employee.text


def test_a_holder_of_an_excluding_grant_approves_nothing_through_the_excluded_group(
    tmp_path: Path,
) -> None:
    """alice holds billing, which excludes support: she cannot act in support, so her support
    membership approves, denies and revokes nothing while the grant is active."""
    with cluster(tmp_path, workers=1) as c:
        client = c.clients[0]
        mine = active_grant(client, "alice")
        dave = request_grant(client, "dave").json()["grant"]["id"]
        for action in ("approve", "deny"):
            refused = act(client, "alice", dave, action)
            assert refused.status_code == 403, refused.text
            assert refused.json()["type"].endswith("/excluded-group")
        assert [e for e in c.grant_events() if e["grant"] == dave] == c.grant_events(
            "grant-requested"
        )[1:]  # dave's request, and nothing alice did
        assert act(client, "alice", mine, "revoke").status_code == 200  # her own, as holder
        assert act(client, "alice", dave, "approve").status_code == 200  # support again


def test_a_burst_of_requests_cannot_bury_a_break_glass_grant(tmp_path: Path) -> None:
    """The approvers' list shows live and break-glass grants before any number of ended ones."""
    with cluster(tmp_path, workers=1) as c:
        client = c.clients[0]
        glass = request_grant(client, "dave", break_glass=True, reason="prod outage, INC-9")
        glass_id = glass.json()["grant"]["id"]
        assert act(client, "dave", glass_id, "revoke").status_code == 200
        for _ in range(grants_module._MAX_LISTED + 5):
            gid = request_grant(client, "dave").json()["grant"]["id"]
            assert act(client, "dave", gid, "revoke").status_code == 200
        listed = client.get("/v1/access/grants", headers=as_("bob")).json()
        ids = [g["id"] for g in listed["grants"]] if "grants" in listed else str(listed)
        assert glass_id in ids


def test_readyz_fails_while_the_grant_store_cannot_be_read(tmp_path: Path) -> None:
    """No guarded request can pass without the store: the replica is not ready, and is
    again once the store is back."""
    with cluster(tmp_path, workers=1) as c:
        client = c.clients[0]
        assert client.get("/readyz").json()["checks"]["grants"] == "ok"
        client.app.state.shim.access.grants.db.close()  # type: ignore[attr-defined]
        grant_file = tmp_path / "audit.db.grants.db"
        for leftover in tmp_path.glob("audit.db.grants.db*"):
            leftover.unlink()
        grant_file.mkdir()  # what is there now is no SQLite file
        answer = client.get("/readyz")
        assert answer.status_code == 503
        assert "failing checks: grants" in answer.json()["detail"]
        assert client.get("/healthz").status_code == 200  # alive: no restart would help
        grant_file.rmdir()
        assert client.get("/readyz").status_code == 200


def test_the_audit_files_are_not_world_readable(tmp_path: Path) -> None:
    """Grant events copy reasons and tickets into the trail: a file mode of 0644 would
    show them to every account on the host, whatever the grant file's 0600 keeps."""
    import os
    import stat

    old = os.umask(0o022)  # the common default, which left the SQLite file 0644
    try:
        with cluster(tmp_path, workers=1) as c:
            request_grant(c.clients[0], "dave", reason="private: INC-77 payroll of J. Doe")
            files = [tmp_path / "audit.db", *tmp_path.glob("audit.db-wal")]
            modes = {f.name: stat.S_IMODE(f.stat().st_mode) for f in files}
    finally:
        os.umask(old)
    assert modes and all(mode & 0o007 == 0 for mode in modes.values()), modes


def test_the_grant_file_is_for_its_owner_only(tmp_path: Path) -> None:
    with cluster(tmp_path, workers=1) as c:
        request_grant(c.clients[0], "dave")
        mode = (tmp_path / "audit.db.grants.db").stat().st_mode
        assert mode & 0o077 == 0, oct(mode)


def test_a_grant_written_into_the_store_by_hand_shows_in_verify(tmp_path: Path) -> None:
    """The grant store is beside the chain, not in it: a forged active row lets requests
    cross, and `audit verify` names the first crossing under a grant nobody activated."""
    import sqlite3

    with cluster(tmp_path, workers=1) as c:
        client = c.clients[0]
        active_grant(client, "alice")  # a real one, so the file and table exist
        assert act(client, "alice", active_grant_id(c), "revoke").status_code == 200
        now = c.clock()
        with sqlite3.connect(tmp_path / "audit.db.grants.db") as db:
            db.execute(
                "INSERT INTO grants (id, grp, caller, state, reason, ticket, seconds, break_glass,"
                " requested, starts, expires, approved_by, ended_by, ended, person) VALUES"
                " ('g-forged', 'billing', 'key:dave', 'active', 'x', NULL, 100000000, 0,"
                " ?, ?, ?, ?, NULL, NULL, 'dave')",
                (now, now, now + 1e8, json.dumps(["key:bob", "key:carol"])),
            )
        assert outbound(client, "dave").status_code == 200  # the store alone is trusted
    verdict = trail.verify(c.records())
    assert not verdict.ok
    assert verdict.first_bad is not None and verdict.first_bad.kind == "unknown grant", str(verdict)
    assert "never activated" in str(verdict)


def _edit_grant(tmp_path: Path, gid: str, **columns: object) -> None:
    """Change a row of the SQLite grant store by hand, as someone with write access to it."""
    import sqlite3

    sets = ", ".join(f"{name} = ?" for name in columns)
    with sqlite3.connect(tmp_path / "audit.db.grants.db") as db:
        db.execute(f"UPDATE grants SET {sets} WHERE id = ?", (*columns.values(), gid))


@pytest.mark.parametrize(
    "edit",
    [
        pytest.param({"state": "active", "expires_in": 86400}, id="revoked-made-active-again"),
        pytest.param({"caller": "key:dave", "person": "dave"}, id="handed-to-another-caller"),
    ],
)
def test_an_old_grant_edited_in_the_store_shows_in_verify(
    tmp_path: Path, edit: dict[str, Any]
) -> None:
    """Not only a new row: an old grant made active again, longer, or handed to somebody
    else lets requests cross too, and the chain says who held it and when."""
    with cluster(tmp_path, workers=1) as c:
        client = c.clients[0]
        gid = active_grant(client, "alice")
        assert outbound(client, "alice").status_code == 200  # a legitimate crossing
        assert act(client, "alice", gid, "revoke").status_code == 200
        columns = {k: v for k, v in edit.items() if k != "expires_in"}
        columns.update(state="active", ended=None, ended_by=None)
        columns["expires"] = c.clock() + edit.get("expires_in", 3600)
        c.clock.now += 5  # the revocation is behind, for the grant store's clock
        time.sleep(SKEW + 0.2)  # and for the crossings', which is the real one
        _edit_grant(tmp_path, gid, **columns)
        holder = str(columns.get("caller", "key:alice")).partition(":")[2]
        assert outbound(client, holder).status_code == 200  # the store alone is trusted
    verdict = trail.verify(c.records())
    assert not verdict.ok
    assert verdict.first_bad is not None and verdict.first_bad.kind == "grant misused", str(verdict)


def test_a_grant_moved_to_another_group_in_the_store_shows_in_verify(tmp_path: Path) -> None:
    """A grant row re-pointed at another elevated group lets its holder act there with
    no request and no approval for that group, and every crossing names the grant the
    chain activated, by the same holder, in its time: verify said OK (red-team, tenth
    pass). The chain says which group the grant was for; a crossing in another one under
    it is `grant misused`."""
    import dataclasses

    payroll_like = ElevatedSpec(
        max_seconds=3600, approvals=1, approvers=frozenset({"billing"}), max_holders=1
    )
    rules = {"billing": dataclasses.replace(BILLING, excludes=frozenset()),
             "support": payroll_like}  # fmt: skip
    with cluster(tmp_path, workers=1, **rules) as c:
        client = c.clients[0]
        gid = active_grant(client, "alice")  # for billing
        assert outbound(client, "alice").status_code == 200  # a legitimate crossing
        assert outbound(client, "alice", "support").status_code == 403  # no grant for it
        _edit_grant(tmp_path, gid, grp="support")
        assert outbound(client, "alice", "support").status_code == 200  # the store is trusted
    verdict = trail.verify(c.records())
    assert not verdict.ok
    assert verdict.first_bad is not None and verdict.first_bad.kind == "grant misused", str(verdict)
    assert "another group" in str(verdict)


def test_a_deleted_break_glass_row_does_not_hide_the_second_one(tmp_path: Path) -> None:
    """Deleting one's break-glass row from the store reopens emergency access; the chain
    still holds both grants, and verify names the second."""
    import sqlite3

    with cluster(tmp_path, workers=1) as c:
        client = c.clients[0]
        first = request_grant(client, "dave", break_glass=True).json()["grant"]["id"]
        act(client, "dave", first, "revoke")
        with sqlite3.connect(tmp_path / "audit.db.grants.db") as db:
            db.execute("DELETE FROM grants WHERE id = ?", (first,))
        assert request_grant(client, "dave", break_glass=True).status_code == 201
    verdict = trail.verify(c.records())
    assert verdict.first_bad is not None, str(verdict)
    assert verdict.first_bad.kind == "break-glass repeated", str(verdict)


def test_verify_accepts_the_crossings_a_grant_allowed(tmp_path: Path) -> None:
    """The other side of the two cases above: holder, time span and a revocation as the
    service enforces them leave a trail that verifies."""
    with cluster(tmp_path, workers=2) as c:
        c.clock.real = True
        gid = active_grant(c.clients[0], "alice")
        assert outbound(c.clients[1], "alice").status_code == 200
        assert act(c.clients[0], "bob", gid, "revoke").status_code == 200
        assert outbound(c.clients[1], "alice").status_code == 403
        assert request_grant(c.clients[0], "erin", break_glass=True).status_code == 201
        assert outbound(c.clients[0], "erin").status_code == 200
    verdict = trail.verify(c.records())
    assert verdict.ok, str(verdict)


def active_grant_id(c: Any) -> str:
    (event,) = c.grant_events("grant-activated")
    return str(event["grant"])
