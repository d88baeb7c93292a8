"""Signed checkpoints of the audit chains: tamper evidence against whoever can write the store.

A hash chain alone proves little to someone who can write the store: they can
cut a chain's tail, drop a whole chain (or per-worker file), rewrite a chain
with recomputed hashes or append a well-chained forgery, and every chain still
verifies. So, like AWS CloudTrail's signed digest files and Certificate
Transparency's signed tree heads, the service publishes **checkpoints**: for
its chain, at start-up, every ``interval`` seconds and at shutdown::

    {"v": 1, "chain": "...", "n": 7, "seq": 1234, "head": "<hash of record 1234>",
     "count": 1234, "time": "2026-11-24T20:00:00.123456Z", "interval": 60.0,
     "final": false, "prev": "<sha256 of checkpoint 6>", "key": "a1", "sig": "<base64>"}

``n`` numbers a chain's checkpoints from 1 and ``prev`` links each to the one
before (64 zeros for the first), so a deleted checkpoint shows; ``final`` marks
the one written at shutdown, after which the chain may not grow; ``count`` is
the number of records the checkpoint covers. ``sig`` is the Ed25519 signature
(the keyset's audit key, which the store never sees) of the canonical JSON of
the other fields. Checkpoints go to three places besides memory: a JSON-lines
checkpoint file (``SHIM_AUDIT_CHECKPOINTS``), the service log (event
``audit-checkpoint``, so a log collector keeps a copy off the box) and the
metrics (``shim_audit_checkpoint_seq{chain}`` and its time).

:mod:`.audit_anchor` holds the records against the checkpoints (see
:func:`.audit.verify`): a checkpointed head that the store no longer has, a
chain that ends before its last checkpoint, records after a final checkpoint,
a chain no checkpoint names, a checkpoint that is missing or not signed, and a
gap in time longer than the interval between checkpoints (or since the last
one, for a chain that never wrote a final checkpoint) are each reported.
"""

from __future__ import annotations

import base64
import contextlib
import fcntl
import hashlib
import math
import os
import threading
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any, Protocol

import orjson

from ..core.audit_key import AuditKey
from .chain import GENESIS, AuditError

__all__ = [
    "CHECKPOINT_FIELDS",
    "MAX_UNWRITTEN",
    "VERSION",
    "CheckpointPublisher",
    "digest",
    "make_checkpoint",
    "signed_bytes",
    "unix_time",
]

VERSION = 1
CHECKPOINT_FIELDS = frozenset(
    {"v", "chain", "n", "seq", "head", "count", "time", "interval", "final", "prev", "key", "sig"}
)
MAX_UNWRITTEN = 1440
"""Checkpoints kept for a later write while the file cannot be written (a day at 60 s)."""
_DOMAIN = b"shimgen audit checkpoint v1\n"
_SORT = orjson.OPT_SORT_KEYS


# -- the checkpoint itself ----------------------------------------------------------------


def signed_bytes(checkpoint: Mapping[str, Any]) -> bytes:
    body = {k: v for k, v in checkpoint.items() if k != "sig"}
    return _DOMAIN + orjson.dumps(body, option=_SORT)


def digest(checkpoint: Mapping[str, Any]) -> str:
    """SHA-256 of the whole signed checkpoint: what the next one's ``prev`` names."""
    return hashlib.sha256(orjson.dumps(dict(checkpoint), option=_SORT)).hexdigest()


def _iso(t: float) -> str:
    return datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def unix_time(text: str) -> float | None:
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


def make_checkpoint(
    key: AuditKey,
    chain: str,
    n: int,
    seq: int,
    head: str,
    when: float,
    interval: float,
    final: bool,
    prev: str,
) -> dict[str, Any]:
    """A signed checkpoint: chain ``chain`` had ``seq`` records ending in ``head`` at ``when``."""
    cp: dict[str, Any] = {
        "v": VERSION,
        "chain": chain,
        "n": n,
        "seq": seq,
        "head": head,
        "count": seq,  # seqs count from 1 without gaps, so the records covered number seq
        "time": _iso(when),
        "interval": float(interval),
        "final": final,
        "prev": prev,
        "key": key.key_id,
    }
    cp["sig"] = base64.b64encode(key.sign(signed_bytes(cp))).decode("ascii")
    return cp


# -- publishing ---------------------------------------------------------------------------


class _Headed(Protocol):
    def snapshot(self) -> tuple[str, int, str]: ...


def _append_line(path: str, line: bytes) -> None:
    """Append one line under an exclusive lock and fsync it: checkpoints are few and precious."""
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o640)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        size = os.fstat(fd).st_size
        try:
            if os.write(fd, line) != len(line):
                raise OSError(28, "short write, no space left on device?")
            os.fsync(fd)
        except OSError:
            with contextlib.suppress(OSError):
                os.ftruncate(fd, size)  # never leave half a line behind
            raise
    finally:
        os.close(fd)


class CheckpointPublisher:
    """Signs and publishes the head of ``sink``'s chain now, every ``interval`` s, and at close.

    ``on_publish(checkpoint, written)`` is called with every checkpoint (the
    service logs it and sets the metrics); ``written`` says whether it reached
    the checkpoint file. One that could not be written (the disk full for a
    moment, or every file descriptor taken by a flood of connections: red-team,
    fifth pass) is kept and written before the next one, in order, so a passing
    failure leaves no hole for ``verify`` to report as deleted checkpoints. Its
    content was signed when it was made, so writing it late changes nothing it
    says. At most :data:`MAX_UNWRITTEN` wait; beyond that the oldest are given
    up (they are still in the log), and ``verify`` reports the hole.
    Publishing runs on a daemon thread, never on the event loop.
    """

    def __init__(
        self,
        sink: _Headed,
        key: AuditKey,
        path: str,
        interval: float,
        on_publish: Callable[[dict[str, Any], bool], None] | None = None,
        clock: Callable[[], float] = time.time,
        thread: bool = True,
    ) -> None:
        if not (isinstance(interval, int | float) and math.isfinite(interval) and interval > 0):
            raise AuditError("the audit checkpoint interval must be a number of seconds above 0")
        self.sink = sink
        self.key = key
        self.path = os.path.abspath(path)
        self.interval = float(interval)
        self._on_publish = on_publish
        self._clock = clock
        self._lock = threading.Lock()
        self._chain = ""
        self._n = 0
        self._prev = GENESIS
        self._closed = False
        self._unwritten: list[bytes] = []  # lines not yet in the file, oldest first
        self._stop = threading.Event()
        # The opening checkpoint (seq 0 for a new chain) is what makes a chain that no
        # checkpoint names a forgery: every real chain has one before its first record.
        # An unwritable file is a start-up error.
        if not self.publish()[1]:
            raise AuditError(f"cannot write audit checkpoint file {self.path}")
        self._thread: threading.Thread | None = None
        if thread:
            self._thread = threading.Thread(
                target=self._run, name="shim-audit-checkpoints", daemon=True
            )
            self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            with contextlib.suppress(Exception):  # on_publish reports failures; keep ticking
                self.publish()

    def publish(self, final: bool = False) -> tuple[dict[str, Any], bool]:
        """Sign the current head, write it to the file, hand it to ``on_publish``."""
        with self._lock:
            chain, seq, head = self.sink.snapshot()
            if chain != self._chain:  # a new chain (first call, or a forked child)
                self._chain, self._n, self._prev = chain, 0, GENESIS
            self._n += 1
            cp = make_checkpoint(
                self.key, chain, self._n, seq, head, self._clock(), self.interval, final, self._prev
            )
            self._prev = digest(cp)
            unwritten = self._unwritten
            unwritten.append(orjson.dumps(cp, option=_SORT) + b"\n")
            del unwritten[:-MAX_UNWRITTEN]  # the oldest given up: verify reports the hole
            try:
                while unwritten:  # the ones a failure held back first: the file stays in order
                    _append_line(self.path, unwritten[0])
                    del unwritten[0]
            except OSError:
                pass
            written = not unwritten
        if self._on_publish is not None:
            self._on_publish(cp, written)
        return cp, written

    def close(self) -> None:
        """Stop the timer and publish the final checkpoint. Call after the last record is stored."""
        if self._closed:
            return
        self._closed = True
        self._stop.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout=10)
        self.publish(final=True)
