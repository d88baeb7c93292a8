"""Attack class: requests that leave no trace.

Seen: on ``/v1/outbound`` and ``/v1/inbound``, a refusal after the gate (bad
JSON, wrong content type, a batch too large, a schema or translation 422) left
no audit record, while proxy routes recorded theirs; an inbound 422 for a bad
token was recorded as one record crossing with every field of the view; and a
caller probing groups it does not belong to (403) was neither audited nor rate
limited. A caller could so try values and groups without a line in the trail.

Now every request that passed authentication leaves exactly one record with the
status the caller got; ``records`` counts what crossed (0, and no fields, for a
refusal); the rate limit counts refused requests too. A caller over its limit
leaves one record when its throttling starts, not one per 429 (seen in a second
attack: 500 requests over the limit wrote 500 rows, so one key could make the
store grow as fast as it could send). Requests that never authenticated (401)
are not the audit trail's: the failed-auth limiter and the access log cover
them. See docs/threat-model.md, "Requests that leave no trace".
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

from shimgen.runtime.service.settings import Settings
from tests.security.sides_support import audit_events, settings_for, shim_client
from tests.service_support import (
    KEY_HELPDESK,
    KEY_PORTAL,
    KEY_SLOW,
    RECORD,
    headers,
    token,
    write_callers,
)


@pytest.fixture(autouse=True)
def _keys(monkeypatch: pytest.MonkeyPatch) -> None:
    from tests.service_support import KEYS_FILE

    monkeypatch.setenv("SHIM_KEYS_FILE", str(KEYS_FILE))
    monkeypatch.delenv("SHIM_KEYS", raising=False)


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return settings_for(tmp_path, write_callers(tmp_path / "callers.yaml"))


@pytest.fixture
def client(settings: Settings) -> Iterator[TestClient]:
    with shim_client(settings) as c:
        yield c


def only_record(client: TestClient, settings: Settings, *request: Any, **kw: Any) -> Any:
    """Send one request; return its status and the one audit record it left."""
    before = len(audit_events(settings))
    response = client.request(*request, **kw)
    events = audit_events(settings)[before:]
    assert len(events) == 1, (response.status_code, events)
    assert events[0]["outcome"] == response.status_code
    assert events[0]["request_id"] == response.headers["x-request-id"]
    return response.status_code, events[0]


REFUSALS: dict[str, tuple[int, tuple[Any, ...], dict[str, Any]]] = {
    "malformed JSON, outbound": (
        400, ("POST", "/v1/outbound"), {"content": b"{not json", "headers": headers()},
    ),
    "malformed JSON, inbound": (
        400, ("POST", "/v1/inbound"), {"content": b"[", "headers": headers()},
    ),
    "not JSON at all": (
        415, ("POST", "/v1/outbound"),
        {"content": b"id=1", "headers": headers(**{"Content-Type": "text/plain"})},
    ),
    "a Content-Length over the limit": (
        413, ("POST", "/v1/outbound"),
        {"content": b"{}", "headers": headers(**{"Content-Length": "99999999"})},
    ),
    "a Content-Length that only looks like digits": (
        400, ("POST", "/v1/outbound"),
        {"content": b"{}", "headers": {**headers(), "Content-Length": "\u00b2".encode("latin-1")}},
    ),
    "a batch over the limit": (
        413, ("POST", "/v1/outbound"), {"json": [RECORD] * 1001, "headers": headers()},
    ),
    "a record the internal schema refuses": (
        422, ("POST", "/v1/outbound"), {"json": {"id": 7}, "headers": headers()},
    ),
    "an inbound payload the schema refuses": (
        422, ("POST", "/v1/inbound"), {"json": {"customerId": 7}, "headers": headers()},
    ),
    "an inbound token that does not decrypt": (
        422, ("POST", "/v1/inbound"),
        {"json": {"customerId": "tok_" + "A" * 40}, "headers": headers()},
    ),
    "a group the service does not have": (
        403, ("POST", "/v1/outbound"), {"json": RECORD, "headers": headers(group="admin")},
    ),
    "a group the caller is not a member of": (
        403, ("POST", "/v1/outbound"),
        {"json": RECORD, "headers": headers(key=KEY_HELPDESK, group="billing")},
    ),
    "no group named": (
        403, ("POST", "/v1/inbound"), {"json": {}, "headers": headers(group=None)},
    ),
    "a route its group may not call": (
        403, ("GET", "/customers"), {"headers": headers(key=KEY_HELPDESK, group="support")},
    ),
    "an external caller on a translation endpoint": (
        403, ("POST", "/v1/inbound"),
        {"json": {"customerId": token(RECORD["id"])}, "headers": headers(key=KEY_PORTAL)},
    ),
}  # fmt: skip


@pytest.mark.parametrize("case", REFUSALS)
def test_a_refusal_after_authentication_is_one_record_with_nothing_crossed(
    client: TestClient, settings: Settings, case: str
) -> None:
    expected, request, kw = REFUSALS[case]
    status, event = only_record(client, settings, *request, **kw)
    assert status == expected
    assert (event["records"], event["fields"]) == (0, [])


def test_a_success_records_what_crossed(client: TestClient, settings: Settings) -> None:
    status, event = only_record(client, settings, "POST", "/v1/outbound",
                                json=[RECORD, RECORD], headers=headers())  # fmt: skip
    assert (status, event["records"]) == (200, 2)
    assert event["fields"] and event["group"] == "support"
    status, event = only_record(client, settings, "POST", "/v1/inbound",
                                json={"customerId": token(RECORD["id"])}, headers=headers())  # fmt: skip
    assert (status, event["records"]) == (200, 1)
    assert "customerId:tokenize" in event["fields"]


def test_probing_groups_is_rate_limited_and_each_probe_recorded(
    client: TestClient, settings: Settings
) -> None:
    """``slow`` has a burst of 2: two group probes use it up, the third request is 429 even
    in the caller's own group, and all three are in the trail."""
    probe = headers(key=KEY_SLOW, group="billing")  # slow is in support only
    statuses = [client.post("/v1/outbound", json=RECORD, headers=probe).status_code
                for _ in range(2)]  # fmt: skip
    third = client.post("/v1/outbound", json=RECORD, headers=headers(key=KEY_SLOW))
    assert statuses == [403, 403] and third.status_code == 429
    assert third.headers["retry-after"]
    outcomes = [(e["caller"], e["outcome"], e["records"]) for e in audit_events(settings)]
    assert outcomes == [("key:slow", 403, 0), ("key:slow", 403, 0), ("key:slow", 429, 0)]


def test_a_caller_over_its_limit_cannot_make_the_store_write_at_will(
    client: TestClient, settings: Settings
) -> None:
    """500 requests from ``slow`` (burst 2, then 0.01/s): 2 admitted, 498 refused with 429,
    and the trail holds the 2 and one record of the throttling: not 500 rows."""
    statuses = [client.post("/v1/outbound", json=RECORD, headers=headers(key=KEY_SLOW)).status_code
                for _ in range(500)]  # fmt: skip
    assert statuses.count(200) == 2 and statuses.count(429) == 498
    outcomes = [e["outcome"] for e in audit_events(settings)]
    assert outcomes == [200, 200, 429]


def test_the_rate_limit_metric_does_not_tell_which_groups_a_caller_is_in(
    client: TestClient,
) -> None:
    """Over its limit, ``slow`` (a member of support only) naming support or billing is
    counted under the group named; a group the service lacks, under none."""
    for _ in range(2):
        client.post("/v1/outbound", json=RECORD, headers=headers(key=KEY_SLOW))
    for group in ("support", "billing", "admin"):
        response = client.post(
            "/v1/outbound", json=RECORD, headers=headers(key=KEY_SLOW, group=group)
        )
        assert response.status_code == 429
    text = client.get("/metrics").text
    for label in ("support", "billing", "none"):
        assert f'shim_rate_limited_total{{group="{label}"}} 1.0' in text, text


def test_an_unauthenticated_request_is_not_an_audit_record(
    client: TestClient, settings: Settings
) -> None:
    response = client.post("/v1/outbound", json=RECORD, headers=headers(key="wrong-" + "x" * 40))
    assert response.status_code == 401
    assert audit_events(settings) == []
