"""The audit event check and the hash chain shared by every audit sink.

:mod:`.audit` is the public face (``open_sink``, ``verify``, the CLI); the
stores live in :mod:`.audit_sinks` (SQLite, JSON lines) and :mod:`.audit_pg`.

Every sink writes its own chain: ``chain`` is ``"<instance>:<pid>:<8 hex>"``,
chosen when the sink opens (and again in a forked child), ``seq`` counts 1, 2,
3..., ``prev`` is the previous record's ``hash`` (64 zeros for seq 1) and
``hash`` is the SHA-256 of the record's canonical JSON (orjson, sorted keys, no
whitespace) without ``hash``. One writer per chain is what lets several
processes share one database or file without coordinating: they never extend
each other's chains.

Sinks fail closed: ``append`` returns only once the store has accepted the
record and raises :class:`AuditError` otherwise, so the service can refuse a
request it could not record.
"""

from __future__ import annotations

import hashlib
import math
import os
import re
import secrets
import threading
import weakref
from collections.abc import Callable, Iterator, Mapping
from typing import Any, ClassVar, Final

import orjson

__all__ = [
    "CHAIN_FIELDS",
    "EVENT_FIELDS",
    "GENESIS",
    "OPTIONAL_FIELDS",
    "AuditBusy",
    "AuditError",
    "ChainedSink",
    "check_event",
    "reason",
    "record_hash",
    "row_record",
]

GENESIS = "0" * 64
CHAIN_FIELDS = ("chain", "seq", "prev", "hash")
_SORT = orjson.OPT_SORT_KEYS
_IDENT_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,63}", re.ASCII)


class AuditBusy(RuntimeError):
    """The store is locked by another writer right now; nothing was written, try again shortly.

    Raised only by ``append_many(events, wait=False)``, so the service can retry on a
    later event-loop iteration instead of sleeping in SQLite's busy handler, which
    would stall every other request of the worker.
    """


class AuditError(RuntimeError):
    """An audit record could not be written, or the audit store cannot be read.

    The service turns it into a 500/503: a crossing that cannot be recorded does
    not happen. Messages name the store and the kind of failure, never a record's
    content or a password.
    """


def _is_str(v: object) -> bool:
    return isinstance(v, str)


def _is_opt_str(v: object) -> bool:
    return v is None or isinstance(v, str)


def _is_count(v: object) -> bool:
    return isinstance(v, int) and not isinstance(v, bool) and 0 <= v < 2**63


def _is_status(v: object) -> bool:
    return isinstance(v, int) and not isinstance(v, bool) and 100 <= v <= 599


def _is_opt_status(v: object) -> bool:
    return v is None or _is_status(v)


def _is_latency(v: object) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v) and v >= 0


def _is_fields(v: object) -> bool:
    return isinstance(v, list | tuple) and all(isinstance(f, str) for f in v)


# The audit event of the issue 3 contract: these keys, nothing else. Checking the
# key set on every append is what guarantees no data value can reach the store.
EVENT_FIELDS: dict[str, tuple[Callable[[object], bool], str]] = {
    "time": (_is_str, "a string"),
    "request_id": (_is_str, "a string"),
    "caller_request_id": (_is_opt_str, "a string or null"),
    "caller": (_is_opt_str, "a string or null"),
    "group": (_is_opt_str, "a string or null"),
    "route": (_is_str, "a string"),
    "direction": (_is_str, "a string"),
    "mapping": (_is_str, "a string"),
    "mapping_version": (_is_count, "a non-negative integer"),
    "mapping_sha256": (_is_str, "a string"),
    "records": (_is_count, "a non-negative integer"),
    "fields": (_is_fields, "a list of strings"),
    "outcome": (_is_status, "an HTTP status code"),
    "upstream_status": (_is_opt_status, "an HTTP status code or null"),
    "latency_ms": (_is_latency, "a finite non-negative number"),
}
_EVENT_KEYS = frozenset(EVENT_FIELDS)
# Keys an event may leave out: translation endpoints call no upstream (and records
# written before the key existed have none).
OPTIONAL_FIELDS: Final = frozenset({"upstream_status"})
_REQUIRED_KEYS = _EVENT_KEYS - OPTIONAL_FIELDS
_SPLICE_KEYS: Final = (_EVENT_KEYS, _REQUIRED_KEYS)  # key sets whose "hash" goes just before
_HASH_BEFORE: Final = b',"latency_ms":'

# A fork while another thread holds a sink's lock would leave the child's copy locked forever.
_SINKS: weakref.WeakSet[ChainedSink] = weakref.WeakSet()


def _unlock_after_fork() -> None:
    for sink in list(_SINKS):
        sink._lock = threading.Lock()


os.register_at_fork(after_in_child=_unlock_after_fork)


def check_event(event: Mapping[str, Any]) -> None:
    """Refuse anything but a well-formed contract event.

    Unexpected keys are named only when they look like identifiers, so a value
    mistakenly used as a key is never echoed.
    """
    # Fast path: a plain dict with the contract keys and values of exactly the
    # expected built-in types passes here. Anything else (subclasses included,
    # which the full check may still accept) takes the full check below, which
    # also builds the error message.
    if type(event) is dict:
        keys = event.keys()
        if keys in (_EVENT_KEYS, _REQUIRED_KEYS) and _plain_ok(event):
            return
    _check_event_full(event)


_MAX_COUNT: Final = 2**63
_INF: Final = math.inf


def _plain_ok(e: dict[str, Any]) -> bool:
    """True when ``e`` (with exactly the contract keys) has values of exactly the expected types."""
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
    v = e["fields"]
    t = type(v)
    if t is not list and t is not tuple:
        return False
    for f in v:  # noqa: SIM110 - a plain loop, no generator: this runs on every request
        if type(f) is not str:
            return False
    return True


def _check_event_full(event: Mapping[str, Any]) -> None:
    if not isinstance(event, Mapping):
        raise AuditError("an audit event must be a mapping")
    keys = event.keys()
    if keys not in (_EVENT_KEYS, _REQUIRED_KEYS):
        extra = [k for k in keys if k not in _EVENT_KEYS]
        named = sorted(k for k in extra if isinstance(k, str) and _IDENT_RE.fullmatch(k))
        hidden = len(extra) - len(named)
        parts = []
        if extra:
            shown = ", ".join(named) + (f" and {hidden} other(s)" if hidden else "")
            parts.append(f"unexpected field(s) {shown.removeprefix(' and ')}")
        missing = sorted(_REQUIRED_KEYS - set(keys))
        if missing:
            parts.append(f"missing field(s) {', '.join(missing)}")
        raise AuditError(f"audit event refused: {'; '.join(parts)}")
    for name, (ok, what) in EVENT_FIELDS.items():
        if name in event and not ok(event[name]):
            raise AuditError(f"audit event refused: field {name!r} must be {what}")


def record_hash(record: Mapping[str, Any]) -> str:
    """SHA-256 hex of the canonical JSON (sorted keys, no spaces) of ``record`` without ``hash``."""
    body = {k: v for k, v in record.items() if k != "hash"}
    return hashlib.sha256(orjson.dumps(body, option=_SORT)).hexdigest()


def chained(event: Mapping[str, Any], chain: str, seq: int, prev: str) -> tuple[str, bytes]:
    """The record for ``event`` at ``seq`` of ``chain``: its hash and its canonical JSON line.

    The hash is over the sorted compact JSON of the record without ``hash``; the
    line is the same JSON with ``hash`` in its sorted place. For a contract event
    that place is just before ``latency_ms`` (no contract key sorts between them),
    and in orjson's output ``,"latency_ms":`` can only be that member (a quote
    inside a string is always escaped, and no value is an object), so the line is
    spliced instead of written a second time. Any other key set is written twice.
    """
    record = {**event, "chain": chain, "seq": seq, "prev": prev}
    try:
        body = orjson.dumps(record, option=_SORT)
        digest = hashlib.sha256(body).hexdigest()
        if event.keys() in _SPLICE_KEYS:
            at = body.find(_HASH_BEFORE)
            if at > 0:
                return digest, b'%s,"hash":"%s"%s' % (body[:at], digest.encode(), body[at:])
        record["hash"] = digest
        return digest, orjson.dumps(record, option=_SORT)
    except orjson.JSONEncodeError:  # e.g. a string with a lone surrogate
        raise AuditError("audit event refused: a field is not valid Unicode text") from None


def reason(exc: BaseException) -> str:
    """A one-line reason for an OS or database error; these never carry record content."""
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    return str(exc).splitlines()[0] if str(exc) else type(exc).__name__


class ChainedSink:
    """Chain bookkeeping, locking and fork safety shared by every sink.

    Subclasses implement ``_write(seq, line)`` (store one canonical record or
    raise :class:`AuditError`), ``_check()``, ``_reopen()`` (after fork),
    ``_close()`` and ``records()``, and may override ``_prepare()``.
    """

    kind: ClassVar[str] = "audit"
    blocking: bool = False

    def __init__(self, instance: str) -> None:
        if not isinstance(instance, str) or not instance:
            raise AuditError("an audit sink needs a non-empty instance name")
        self._instance = instance
        self._lock = threading.Lock()
        self._closed = False
        self._new_chain()
        _SINKS.add(self)

    def _new_chain(self) -> None:
        self._pid = os.getpid()
        self.chain = f"{self._instance}:{self._pid}:{secrets.token_hex(4)}"
        self._seq = 0
        self._prev = GENESIS

    @property
    def head(self) -> tuple[str, int, str]:
        """``(chain, last seq, last hash)``: log or export it so truncation can be noticed."""
        return self.chain, self._seq, self._prev

    def snapshot(self) -> tuple[str, int, str]:
        """:attr:`head` read under the append lock: a stored record's seq and hash, never half an update."""
        with self._lock:
            return self.chain, self._seq, self._prev

    def _ready(self) -> None:
        """Refuse after close; in a forked child, start a fresh chain on a fresh handle."""
        if self._closed:
            raise AuditError(f"the {self.kind} audit sink is closed")
        if os.getpid() != self._pid:
            self._new_chain()
            self._reopen()

    def append(self, event: Mapping[str, Any]) -> None:
        """Chain ``event`` and store it; returns only once it is stored."""
        check_event(event)
        with self._lock:
            self._ready()
            self._prepare()
            seq = self._seq + 1
            digest, line = chained(event, self.chain, seq, self._prev)
            self._write(seq, line)
            self._seq = seq
            self._prev = digest

    def check(self) -> None:
        """Raise :class:`AuditError` if an append would fail now (for ``/readyz``)."""
        with self._lock:
            self._ready()
            self._check()

    def close(self) -> None:
        """Release the store; later appends raise. Idempotent."""
        with self._lock:
            if not self._closed:
                self._closed = True
                if os.getpid() == self._pid:
                    self._close()

    def records(self) -> Iterator[dict[str, Any]]:  # pragma: no cover - abstract
        raise NotImplementedError

    def _prepare(self) -> None:
        """Hook run before a record is built, e.g. to reconnect (which may resync the chain)."""

    def _write(self, seq: int, line: bytes) -> None:  # pragma: no cover - abstract
        raise NotImplementedError

    def _check(self) -> None:  # pragma: no cover - abstract
        raise NotImplementedError

    def _reopen(self) -> None:  # pragma: no cover - abstract
        raise NotImplementedError

    def _close(self) -> None:  # pragma: no cover - abstract
        raise NotImplementedError


def row_record(chain: object, seq: object, text: object) -> dict[str, Any]:
    """Parse one row of a database store; a row that is not a record stored under its own key becomes a marker.

    Markers (``{"problem": "unreadable" | "misplaced", "chain": ..., "seq": ...}``)
    let ``verify`` report an unreadable row, or a record moved to another
    ``(chain, seq)`` key, at its place instead of crashing or skipping it.
    """
    try:
        record = orjson.loads(text) if isinstance(text, str | bytes) else None
    except orjson.JSONDecodeError:
        record = None
    if not isinstance(record, dict):
        return {"problem": "unreadable", "chain": chain, "seq": seq}
    if record.get("chain") != chain or record.get("seq") != seq:
        return {"problem": "misplaced", "chain": chain, "seq": seq}
    return record
