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
import os
import secrets
import threading
import weakref
from collections.abc import Iterator, Mapping
from typing import Any, ClassVar, Final

import orjson

from .errors import AuditBusy, AuditError
from .events import CROSSING_KEYSETS, EVENT_FIELDS, OPTIONAL_FIELDS, check_event

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
# Crossing key sets, whose "hash" goes just before latency_ms (see chained)
_SPLICE_KEYS: Final = CROSSING_KEYSETS
_HASH_BEFORE: Final = b',"latency_ms":'


# A fork while another thread holds a sink's lock would leave the child's copy locked forever.
_SINKS: weakref.WeakSet[ChainedSink] = weakref.WeakSet()


def _unlock_after_fork() -> None:
    for sink in list(_SINKS):
        sink._lock = threading.Lock()


os.register_at_fork(after_in_child=_unlock_after_fork)


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
