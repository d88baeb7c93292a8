"""What the audit trail may hold: crossings, grant events and incidents, each a fixed key set.

Checking every event's keys and value types before it is chained is what
guarantees no data value reaches the store. There are four kinds:

* a **crossing** (the issue 3 contract, :data:`EVENT_FIELDS`): one per
  authenticated request, with ``grant`` when it was made under an elevation grant
  and ``upstream_status`` on proxy routes. ``records``/``fields`` say what left
  the shim towards the caller (or, on ``POST /v1/inbound``, towards the internal
  side); a proxy request goes both ways, so its record also holds
  ``records_in``/``fields_in``: what it forwarded to the internal API (a path
  value or a body), whatever the internal API answered;
* a **grant event** (:data:`GRANT_FIELDS`, ``event`` one of :data:`GRANT_EVENTS`):
  an elevation requested, approved, denied, activated, expired, revoked, or taken
  in an emergency (break-glass);
* an **incident event** (:data:`INCIDENT_FIELDS`, ``event`` one of
  :data:`INCIDENT_EVENTS`): heuristic tracking opened or closed an incident,
  with numeric evidence only;
* a **forward event** (:data:`FORWARD_FIELDS`, ``event: proxy-forward``): a
  proxy route's write is about to be sent to the internal API; written (and
  stored) before it is, so a write whose crossing record then fails is still
  on record.

A crossing has no ``event`` key; the others name their kind in it, so a record
says what it is by its keys alone (``verify`` reads them that way).
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from typing import Any, Final

from .errors import AuditError

__all__ = [
    "CROSSING_KEYSETS",
    "EVENT_FIELDS",
    "FORWARD_EVENTS",
    "FORWARD_FIELDS",
    "GRANT_EVENTS",
    "GRANT_FIELDS",
    "INCIDENT_EVENTS",
    "INCIDENT_FIELDS",
    "OPTIONAL_FIELDS",
    "check_event",
    "event_keysets",
]

Check = tuple[Callable[[object], bool], str]

_IDENT_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,63}", re.ASCII)
_MAX_COUNT: Final = 2**63
_INF: Final = math.inf
_MAX_TEXT: Final = 1024  # a reason or ticket longer than this is refused, not cut


def _is_str(v: object) -> bool:
    return isinstance(v, str)


def _is_opt_str(v: object) -> bool:
    return v is None or isinstance(v, str)


def _is_opt_text(v: object) -> bool:
    return v is None or (isinstance(v, str) and len(v) <= _MAX_TEXT)


def _is_count(v: object) -> bool:
    return isinstance(v, int) and not isinstance(v, bool) and 0 <= v < _MAX_COUNT


def _is_status(v: object) -> bool:
    return isinstance(v, int) and not isinstance(v, bool) and 100 <= v <= 599


def _is_opt_status(v: object) -> bool:
    return v is None or _is_status(v)


def _is_number(v: object) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)


def _is_latency(v: object) -> bool:
    return _is_number(v) and v >= 0  # type: ignore[operator]


def _is_fields(v: object) -> bool:
    return isinstance(v, list | tuple) and all(isinstance(f, str) for f in v)


def _is_evidence(v: object) -> bool:
    """Numbers under identifier names: what tracking saw, never a value that crossed."""
    return (
        isinstance(v, dict)
        and len(v) <= 32
        and all(isinstance(k, str) and _IDENT_RE.fullmatch(k) for k in v)
        and all(_is_number(x) for x in v.values())
    )


_MAPPING: dict[str, Check] = {
    "mapping": (_is_str, "a string"),
    "mapping_version": (_is_count, "a non-negative integer"),
    "mapping_sha256": (_is_str, "a string"),
}

# A crossing: these keys, nothing else (``OPTIONAL_FIELDS`` may be left out).
EVENT_FIELDS: dict[str, Check] = {
    "time": (_is_str, "a string"),
    "request_id": (_is_str, "a string"),
    "caller_request_id": (_is_opt_str, "a string or null"),
    "caller": (_is_opt_str, "a string or null"),
    "group": (_is_opt_str, "a string or null"),
    "grant": (_is_str, "a string"),
    "route": (_is_str, "a string"),
    "direction": (_is_str, "a string"),
    **_MAPPING,
    "records": (_is_count, "a non-negative integer"),
    "fields": (_is_fields, "a list of strings"),
    "outcome": (_is_status, "an HTTP status code"),
    "upstream_status": (_is_opt_status, "an HTTP status code or null"),
    "records_in": (_is_count, "a non-negative integer"),
    "fields_in": (_is_fields, "a list of strings"),
    "latency_ms": (_is_latency, "a finite non-negative number"),
}
# Translation endpoints call no upstream (and records written before the key existed
# have none); only a crossing made under an elevation grant names one; only a proxy
# crossing (two directions) has records_in and fields_in, always both.
OPTIONAL_FIELDS: Final = frozenset({"upstream_status", "grant", "records_in", "fields_in"})
_INWARD: Final = frozenset({"records_in", "fields_in"})
_EVENT_KEYS = frozenset(EVENT_FIELDS)
_REQUIRED_KEYS = _EVENT_KEYS - OPTIONAL_FIELDS
_PROXY_KEYS = _REQUIRED_KEYS | {"upstream_status"} | _INWARD
CROSSING_KEYSETS: Final = (
    _REQUIRED_KEYS | {"upstream_status"},  # the common ones first: `in` compares in order
    _PROXY_KEYS,
    _REQUIRED_KEYS,
    _REQUIRED_KEYS | {"upstream_status", "grant"},
    _REQUIRED_KEYS | {"grant"},
    _PROXY_KEYS | {"grant"},
)

GRANT_EVENTS: Final = (
    "grant-requested",
    "grant-approved",
    "grant-denied",
    "grant-activated",
    "grant-expired",
    "grant-revoked",
    "grant-break-glass",
)
GRANT_FIELDS: dict[str, Check] = {
    "time": (_is_str, "a string"),
    "event": (GRANT_EVENTS.__contains__, f"one of {', '.join(GRANT_EVENTS)}"),
    "request_id": (_is_opt_str, "a string or null"),  # null: expiry, noticed by the shim
    "grant": (_is_str, "a string"),
    "group": (_is_str, "a string"),
    "caller": (_is_str, "a string"),  # who holds (or asked for) the grant
    "actor": (_is_opt_str, "a string or null"),  # who did this: approver, revoker; null: the shim
    "reason": (_is_opt_text, f"a string of at most {_MAX_TEXT} characters, or null"),
    "ticket": (_is_opt_text, f"a string of at most {_MAX_TEXT} characters, or null"),
    "starts": (_is_opt_str, "a string or null"),
    "expires": (_is_opt_str, "a string or null"),
    **_MAPPING,
}

INCIDENT_EVENTS: Final = ("incident-opened", "incident-closed")
INCIDENT_FIELDS: dict[str, Check] = {
    "time": (_is_str, "a string"),
    "event": (INCIDENT_EVENTS.__contains__, f"one of {', '.join(INCIDENT_EVENTS)}"),
    "incident": (_is_str, "a string"),
    "caller": (_is_str, "a string"),
    "group": (_is_opt_str, "a string or null"),
    "route": (_is_opt_str, "a string or null"),
    "kind": (_is_str, "a string"),  # what was detected
    "effect": (_is_str, "a string"),  # log, flag, throttle or deny
    "evidence": (_is_evidence, "an object of at most 32 numbers under identifier names"),
    **_MAPPING,
}

FORWARD_EVENTS: Final = ("proxy-forward",)
FORWARD_FIELDS: dict[str, Check] = {
    "time": (_is_str, "a string"),
    "event": (FORWARD_EVENTS.__contains__, "proxy-forward"),
    "request_id": (_is_str, "a string"),
    "caller": (_is_str, "a string"),
    "group": (_is_str, "a string"),
    "grant": (_is_opt_str, "a string or null"),
    "route": (_is_str, "a string"),
    "fields_in": (_is_fields, "a list of strings"),
    **_MAPPING,
}

_KINDS: Final = {
    **dict.fromkeys(GRANT_EVENTS, GRANT_FIELDS),
    **dict.fromkeys(INCIDENT_EVENTS, INCIDENT_FIELDS),
    **dict.fromkeys(FORWARD_EVENTS, FORWARD_FIELDS),
}


def event_keysets() -> tuple[frozenset[str], ...]:
    """Every key set an event may have (a stored record adds the chain fields)."""
    return (
        *CROSSING_KEYSETS,
        frozenset(GRANT_FIELDS),
        frozenset(INCIDENT_FIELDS),
        frozenset(FORWARD_FIELDS),
    )


def check_event(event: Mapping[str, Any]) -> None:
    """Refuse anything but a well-formed event of one of the three kinds.

    Unexpected keys are named only when they look like identifiers, so a value
    mistakenly used as a key is never echoed.
    """
    # Fast path: a plain dict with a crossing's keys and values of exactly the
    # expected built-in types passes here. Anything else (subclasses included,
    # which the full check may still accept) takes the full check below, which
    # also builds the error message.
    if type(event) is dict and event.keys() in CROSSING_KEYSETS and _plain_ok(event):
        return
    _check_event_full(event)


def _plain_ok(e: dict[str, Any]) -> bool:
    """True when crossing ``e`` (keys already checked) has values of exactly the expected types."""
    v = e["caller"]
    if v is not None and type(v) is not str:
        return False
    v = e["caller_request_id"]
    if v is not None and type(v) is not str:
        return False
    v = e["group"]
    if v is not None and type(v) is not str:
        return False
    if not (
        type(e["time"]) is str
        and type(e["request_id"]) is str
        and type(e["route"]) is str
        and type(e["direction"]) is str
        and type(e["mapping"]) is str
        and type(e["mapping_sha256"]) is str
        and type(e.get("grant", "")) is str
    ):
        return False
    v = e["mapping_version"]
    if type(v) is not int or not 0 <= v < _MAX_COUNT:
        return False
    v = e["records"]
    if type(v) is not int or not 0 <= v < _MAX_COUNT:
        return False
    v = e["outcome"]
    if type(v) is not int or not 100 <= v <= 599:
        return False
    v = e.get("upstream_status")
    if v is not None and (type(v) is not int or not 100 <= v <= 599):
        return False
    v = e["latency_ms"]
    t = type(v)
    if not ((t is float and 0.0 <= v < _INF) or (t is int and 0 <= v < _MAX_COUNT)):
        return False
    if "records_in" in e:  # a proxy crossing (the key set says fields_in is there too)
        v = e["records_in"]
        if type(v) is not int or not 0 <= v < _MAX_COUNT:
            return False
        if not _plain_fields(e["fields_in"]):
            return False
    return _plain_fields(e["fields"])


def _plain_fields(v: object) -> bool:
    """True for a list or tuple of exactly ``str``."""
    t = type(v)
    if t is not list and t is not tuple:
        return False
    for f in v:  # type: ignore[attr-defined]  # noqa: SIM110 - a plain loop: every request
        if type(f) is not str:
            return False
    return True


def _check_event_full(event: Mapping[str, Any]) -> None:
    if not isinstance(event, Mapping):
        raise AuditError("an audit event must be a mapping")
    keys = event.keys()
    name = event.get("event")
    fields = _KINDS.get(name) if isinstance(name, str) else None
    if fields is not None:
        allowed, required = frozenset(fields), frozenset(fields)
    else:
        fields, allowed, required = EVENT_FIELDS, _EVENT_KEYS, _REQUIRED_KEYS
        if "event" in keys:
            raise AuditError(f"audit event refused: field 'event' must be one of {_kind_names()}")
    if fields is EVENT_FIELDS and len(_INWARD & keys) == 1:
        raise AuditError("audit event refused: records_in and fields_in go together")
    if not required <= keys <= allowed:
        extra = [k for k in keys if k not in allowed]
        named = sorted(k for k in extra if isinstance(k, str) and _IDENT_RE.fullmatch(k))
        hidden = len(extra) - len(named)
        parts = []
        if extra:
            shown = ", ".join(named) + (f" and {hidden} other(s)" if hidden else "")
            parts.append(f"unexpected field(s) {shown.removeprefix(' and ')}")
        missing = sorted(required - set(keys))
        if missing:
            parts.append(f"missing field(s) {', '.join(missing)}")
        raise AuditError(f"audit event refused: {'; '.join(parts)}")
    for key, (ok, what) in fields.items():
        if key in event and not ok(event[key]):
            raise AuditError(f"audit event refused: field {key!r} must be {what}")


def _kind_names() -> str:
    return ", ".join(_KINDS)
