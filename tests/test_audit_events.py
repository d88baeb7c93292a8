"""The three kinds of audit event (crossing, grant, incident): each is its exact key set,
chained and verified like any other record, and nothing else gets into the trail."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from shimgen.runtime.audit import trail
from shimgen.runtime.audit.errors import AuditError
from shimgen.runtime.audit.events import GRANT_FIELDS, INCIDENT_FIELDS, check_event

MAPPING = {"mapping": "customer", "mapping_version": 3, "mapping_sha256": "ab" * 32}


def crossing(**extra: Any) -> dict[str, Any]:
    return {
        "time": "2026-12-04T08:00:00.000000Z", "request_id": "r1", "caller_request_id": None,
        "caller": "key:ops", "group": "fraud-review", "route": "POST /v1/outbound",
        "direction": "outbound", **MAPPING, "records": 1, "fields": ["id:tokenize"],
        "outcome": 200, "latency_ms": 1.5, **extra,
    }  # fmt: skip


def grant_event(**extra: Any) -> dict[str, Any]:
    return {
        "time": "2026-12-04T08:00:00.000000Z", "event": "grant-approved", "request_id": "r2",
        "grant": "g-1", "group": "fraud-review", "caller": "key:ana", "actor": "key:bo",
        "reason": "case 1234", "ticket": "SEC-9", "starts": None,
        "expires": "2026-12-04T09:00:00Z", **MAPPING, **extra,
    }  # fmt: skip


def incident_event(**extra: Any) -> dict[str, Any]:
    return {
        "time": "2026-12-04T08:00:00.000000Z", "event": "incident-opened", "incident": "i-1",
        "caller": "key:ana", "group": "support", "route": "GET /customers/{customerId}",
        "kind": "enumeration", "effect": "flag",
        "evidence": {"distinct_ids": 412, "baseline_p99": 20.5}, **MAPPING, **extra,
    }  # fmt: skip


def test_each_kind_is_chained_and_verified(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'audit.db'}"
    sink = trail.open_sink(url, "test")
    # the crossing names g-1, which the trail activates for ana from 07:59 (verify holds
    # crossings to the holder and the time the chain says the grant was active)
    active = {"event": "grant-activated", "starts": "2026-12-04T07:59:00.000000Z"}
    proxy = {"route": "PATCH /customers/{customerId}", "direction": "proxy", "records": 0,
             "fields": [], "upstream_status": 204, "records_in": 1,
             "fields_in": ["customerId:tokenize", "status:map"]}  # fmt: skip
    events = [crossing(), crossing(grant="g-1", caller="key:ana"), grant_event(**active),
              incident_event(), crossing(**proxy), crossing(**proxy, grant="g-1", caller="key:ana")]  # fmt: skip
    for event in events:
        sink.append(event)
    sink.close()
    records = list(trail.read_records(url))
    assert [{k: r[k] for k in e} for r, e in zip(records, events, strict=True)] == events
    verdict = trail.verify(records)
    assert verdict.ok, str(verdict)


def test_a_record_of_an_unknown_shape_breaks_verification(tmp_path: Path) -> None:
    """verify knows the kinds by their keys; a grant record with a crossing's key is malformed."""
    url = f"sqlite:///{tmp_path / 'audit.db'}"
    sink = trail.open_sink(url, "test")
    sink.append(grant_event())
    sink.close()
    (record,) = trail.read_records(url)
    record["records"] = 1
    from shimgen.runtime.audit.chain import record_hash

    record["hash"] = record_hash(record)
    verdict = trail.verify([record])
    assert not verdict.ok
    assert "malformed" in str(verdict)


@pytest.mark.parametrize(
    ("event", "message"),
    [
        (crossing(event="grant-approved"), "unexpected field.*records"),
        (crossing(event="card-number"), "field 'event' must be one of"),
        (crossing(grant=None), "field 'grant' must be a string"),
        (grant_event(records=1), "unexpected field.*records"),
        (grant_event(event="grant-stolen"), "field 'event' must be one of"),
        ({k: v for k, v in grant_event().items() if k != "actor"}, "missing field.*actor"),
        (grant_event(reason="x" * 1025), "field 'reason' must be a string of at most 1024"),
        (incident_event(evidence={"email": "a@b.c"}), "field 'evidence' must be"),
        (incident_event(evidence={"not an identifier": 1}), "field 'evidence' must be"),
        (incident_event(evidence={"n": float("nan")}), "field 'evidence' must be"),
        (incident_event(event="incident-opened", fields=["email:pass"]), "unexpected field"),
        (crossing(records_in=1), "records_in and fields_in go together"),
        (crossing(fields_in=["id:tokenize"]), "records_in and fields_in go together"),
        (crossing(records_in=True, fields_in=[]), "field 'records_in' must be a non-negative"),
        (crossing(records_in=-1, fields_in=[]), "field 'records_in' must be a non-negative"),
        (crossing(records_in=1, fields_in="id:tokenize"), "field 'fields_in' must be a list"),
        (crossing(records_in=1, fields_in=[1]), "field 'fields_in' must be a list"),
        (grant_event(records_in=1, fields_in=[]), "unexpected field"),
    ],
    ids=[
        "crossing-naming-a-kind", "unknown-kind", "crossing-null-grant", "grant-with-records",
        "unknown-grant-event", "grant-without-actor", "reason-too-long", "evidence-with-a-value",
        "evidence-odd-name", "evidence-nan", "incident-with-fields", "records-in-alone",
        "fields-in-alone", "records-in-bool", "records-in-negative", "fields-in-string",
        "fields-in-number", "grant-with-inward",
    ],
)  # fmt: skip
def test_an_event_outside_its_kind_is_refused(event: dict[str, Any], message: str) -> None:
    with pytest.raises(AuditError, match=message):
        check_event(event)


def test_the_kinds_share_the_mapping_fields() -> None:
    """Every record says which mapping version it was written under, whatever its kind."""
    for fields in (GRANT_FIELDS, INCIDENT_FIELDS):
        assert {"time", "mapping", "mapping_version", "mapping_sha256"} <= set(fields)
    for event in (crossing(), crossing(grant="g"), grant_event(), incident_event()):
        check_event(event)
