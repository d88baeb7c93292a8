"""Heuristic tracking's vocabulary: kinds, effects, thresholds, incidents and their audit events.

Kept apart from :mod:`.tracking` (the detector) so the names a reviewer, the
mapping, the metrics and the audit trail share are in one short module.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Final

from .baselines import hour_of_week

__all__ = [
    "EFFECTS",
    "KINDS",
    "Change",
    "Incident",
    "TrackingConfig",
    "evidence_of",
    "incident_event",
]

KINDS: Final = ("volume", "enumeration", "first-use", "probing", "mass-assignment", "off-hours")
EFFECTS: Final = ("log", "flag", "throttle", "deny")


@dataclass(frozen=True, slots=True)
class TrackingConfig:
    """Thresholds; the service reads window and warm-up from settings, the rest are defaults."""

    window: float = 60.0
    warmup_seconds: float = 7 * 86_400.0  # CloudTrail Insights' seven-day baseline
    warmup_requests: int = 100
    quiet: float | None = None  # seconds without the condition before closing; None: one window
    max_callers: int = 10_000
    max_ids: int = 4096
    volume_floor: float = 100.0  # records in a window: the burst rule (factor x p99)
    volume_sustained_floor: float = 30.0  # records in a window: the sustained rule
    volume_mean_factor: float = 3.0  # sustained rule: records over this times the mean ...
    volume_requests_floor: float = 5.0  # ... by more requests than this and than
    volume_requests_factor: float = 1.35  # this times their p99 (lower: faster, more alarms)
    enumeration_floor: float = 30.0
    probing_floor: float = 10.0
    probing_share: float = 0.5
    # refusals beyond this many times the threshold are probing whatever their share:
    # otherwise two ordinary requests per probe would hide any number of probes
    probing_ceiling: float = 3.0
    rejection_floor: float = 5.0
    factor: float = 2.0  # times the caller's p99 per window
    offhours_min: int = 3  # requests in an unusual hour before it counts

    def __post_init__(self) -> None:
        if not self.window > 0 or self.max_callers < 1 or self.max_ids < 1:
            raise ValueError("window must be > 0, max_callers and max_ids >= 1")


@dataclass(slots=True)
class Incident:
    """One open (or just closed) incident; ``evidence`` holds numbers only."""

    id: str
    caller: str
    kind: str
    effect: str
    group: str | None
    route: str | None
    opened: float
    last: float  # the last time the condition held
    evidence: dict[str, float]
    # False: another worker claimed this caller x kind in the shared store and writes its
    # events; this worker applies the effect only (.shared_tracking)
    claimed: bool = True


@dataclass(frozen=True, slots=True)
class Change:
    """An incident opened or closed at ``at``."""

    event: str  # "incident-opened" or "incident-closed"
    incident: Incident
    at: float


def incident_event(change: Change, mapping: str, version: int, sha256: str) -> dict[str, Any]:
    """The audit event (``INCIDENT_FIELDS`` of ``runtime/audit/events.py``) for one change."""
    incident = change.incident
    whole = int(change.at)
    stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(whole))
    return {
        "time": f"{stamp}.{int((change.at - whole) * 1_000_000):06d}Z",
        "event": change.event,
        "incident": incident.id,
        "caller": incident.caller,
        "group": incident.group,
        "route": incident.route,
        "kind": incident.kind,
        "effect": incident.effect,
        "evidence": dict(incident.evidence)
        if change.event == "incident-opened"
        else {"open_seconds": round(change.at - incident.opened, 3)},
        "mapping": mapping,
        "mapping_version": version,
        "mapping_sha256": sha256,
    }


def evidence_of(
    st: Any, kind: str, seen: float, threshold: float, now: float, window: float
) -> dict[str, float]:
    """What the detection saw: counts, thresholds, baselines; never a value that crossed."""
    evidence: dict[str, float] = {
        "observed": round(seen, 3),
        "history_seconds": round(now - st.first, 3),
        "history_requests": st.requests,
        "window_seconds": window,
        "window_requests": st.cur_req + st.o_req,  # o_: other workers' (shared store)
    }
    if threshold:
        evidence["threshold"] = round(threshold, 3)
    baseline = {"volume": st.h_vol, "enumeration": st.h_ids, "probing": st.h_err,
                "mass-assignment": st.h_rej}.get(kind)  # fmt: skip
    if baseline is not None:
        evidence["baseline_p50"] = baseline.quantile(0.5)
        evidence["baseline_p99"] = baseline.quantile(0.99)
        evidence["baseline_windows"] = baseline.total
    if kind == "volume":
        evidence["baseline_mean"] = round(st.h_vol.mean(), 3)
        evidence["requests_with_records"] = st.cur_vreq
        evidence["pii_records"] = st.cur_pii
        evidence["secret_records"] = st.cur_secret
    elif kind == "probing":
        evidence["errors"] = st.cur_err + st.o_err
    elif kind == "first-use":
        evidence["routes_known"] = len(st.routes)
        evidence["groups_known"] = len(st.groups)
    elif kind == "off-hours":
        evidence["hour_of_week"] = hour_of_week(now)
    return evidence
