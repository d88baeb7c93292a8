"""The audit events a request writes: what each says, built from the request's facts.

A crossing (one per authenticated request, :meth:`.pipeline.Shim.audit`) and a
``proxy-forward`` event (before a proxy write is sent, :meth:`.pipeline.Shim.forwarding`).
The keys are the audit trail's contract (:mod:`..audit.events` checks them before
anything is chained): names, counts and statuses, never a value that crossed.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from starlette.types import Scope

from .access_log import UNMATCHED
from .audit_facts import utc_now

if TYPE_CHECKING:
    from .app import ShimSpec
    from .auth import Caller

__all__ = ["crossing_event", "forward_event"]


def crossing_event(
    spec: ShimSpec,
    scope: Scope,
    caller: Caller | None,
    group: str | None,
    direction: str,
    records: int,
    outcome: int,
    fields: tuple[str, ...],
    *,
    upstream_status: int | None = None,
    records_in: int = 0,
    fields_in: tuple[str, ...] = (),
) -> dict[str, Any]:
    """The crossing record of one request: who, which group, route, mapping, what crossed.

    ``fields`` are the view's fields (listed only when a record crossed: a refusal
    names none); a proxy record also says what went inward (a 204 to a forwarded
    write is no empty crossing); one made under a grant names it.
    """
    event: dict[str, Any] = {
        "time": utc_now(),
        "request_id": scope["shim.request_id"],
        "caller": caller.identity if caller is not None else None,
        "caller_request_id": scope.get("shim.caller_request_id"),
        "group": group,
        "route": scope.get("shim.route") or UNMATCHED,  # no route served it: Shim.unrouted
        "direction": direction,
        "mapping": spec.name,
        "mapping_version": spec.version,
        "mapping_sha256": spec.sha256,
        "records": records,
        "fields": fields if records else (),  # a tuple, never mutated
        "outcome": outcome,
        "upstream_status": upstream_status,
        "latency_ms": round((time.perf_counter() - scope["shim.start"]) * 1000, 3),
    }
    if direction == "proxy":  # both ways: every proxy record says what went in
        event["records_in"] = records_in
        event["fields_in"] = fields_in if records_in else ()
    grant = scope.get("shim.grant")
    if grant is not None:  # acted under an elevation grant: the crossing names it
        event["grant"] = grant
    return event


def forward_event(
    spec: ShimSpec, scope: Scope, caller: Caller, group: str, fields_in: tuple[str, ...]
) -> dict[str, Any]:
    """A proxy write about to be sent inward (written, and stored, before it is)."""
    return {
        "time": utc_now(),
        "event": "proxy-forward",
        "request_id": scope["shim.request_id"],
        "caller": caller.identity,
        "group": group,
        "grant": scope.get("shim.grant"),
        "route": scope["shim.route"],
        "fields_in": fields_in,
        "mapping": spec.name,
        "mapping_version": spec.version,
        "mapping_sha256": spec.sha256,
    }
