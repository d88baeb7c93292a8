"""The SQLite audit store (the default), and what every local-file store shares.

Both watch their file: an append to a file that was deleted, replaced or made
read-only fails (:class:`AuditError`) instead of writing into an unlinked inode
nobody will ever read, and ``check`` also fails when the volume is full.
"""

from __future__ import annotations

import contextlib
import glob
import itertools
import os
import random
import sqlite3
import time
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from .chain import (
    AuditBusy,
    AuditError,
    ChainedSink,
    chained,
    check_event,
    reason,
    row_record,
)
from .sqlite_checkpoint import FORK_GUARD, Checkpointer

__all__ = ["SQLiteSink", "sqlite_records", "store_files", "worker_file"]

_INHERITED: list[object] = []  # connections inherited over fork(): never used, never closed


class _FileSink(ChainedSink):
    """A sink whose store is one local file, watched for removal, replacement and lost write access."""

    def __init__(self, path: str, instance: str) -> None:
        # Absolute, so a later chdir cannot point the checks at another file.
        self.path = os.path.abspath(path)
        self._ident = (0, 0)
        super().__init__(instance)

    def _remember_file(self) -> None:
        st = os.stat(self.path)
        self._ident = (st.st_dev, st.st_ino)

    def _still_writable(self) -> None:
        """Fail if the file was removed or replaced (our handle would write into the void) or made read-only."""
        try:
            st = os.stat(self.path)
        except OSError as exc:
            raise AuditError(
                f"{self.kind} audit file {self.path} is gone ({reason(exc)}); "
                "restart the shim once the audit store is back"
            ) from None
        if (st.st_dev, st.st_ino) != self._ident:
            raise AuditError(
                f"{self.kind} audit file {self.path} was replaced; restart the shim to use the new file"
            )
        if not os.access(self.path, os.W_OK):
            raise AuditError(f"{self.kind} audit file {self.path} is not writable")

    def _check(self) -> None:
        self._still_writable()
        try:
            vfs = os.statvfs(self.path)
        except OSError as exc:
            raise AuditError(f"{self.kind} audit file {self.path}: {reason(exc)}") from None
        if vfs.f_bavail == 0:
            raise AuditError(f"no space left for {self.kind} audit file {self.path}")


# -- SQLite ---------------------------------------------------------------------------

_SQLITE_SCHEMA = (
    # No primary key: an index on (chain, seq) would double the pages every commit writes,
    # and verify (which sorts, and reports duplicate or missing seqs) does not need it.
    "CREATE TABLE IF NOT EXISTS audit (chain TEXT NOT NULL, seq INTEGER NOT NULL, "
    "record TEXT NOT NULL)"
)
_SQLITE_INSERT = "INSERT INTO audit (chain, seq, record) VALUES (?, ?, ?)"
_SQLITE_SELECT = "SELECT chain, seq, record FROM audit ORDER BY chain, seq"
_SYNCHRONOUS = ("NORMAL", "FULL", "EXTRA")


class SQLiteSink(_FileSink):
    """Audit records in one SQLite file in WAL mode, shared safely by several processes.

    WAL lets readers (``verify``) run beside writers and keeps a commit to one
    append to the log; ``synchronous=NORMAL`` (the default) makes each record
    survive a crash of the process, ``FULL`` also a crash of the machine, at the
    cost of an fsync per record (then ``blocking`` is true). The connection stays
    open and the INSERT is prepared once (sqlite3's statement cache).
    """

    kind = "SQLite"

    def __init__(
        self,
        path: str,
        instance: str,
        synchronous: str = "NORMAL",
        busy_timeout: float = 5.0,
        per_worker: bool = False,
    ) -> None:
        # per_worker: each process writes its own file PATH.w<pid> next to PATH, so several
        # uvicorn workers never wait for each other on SQLite's one write lock (measured:
        # that contention costs a two-worker shim a tenth of its throughput). Readers and
        # verify take PATH and every PATH.w* file as one store.
        self._base = path
        self._per_worker = per_worker
        if per_worker:
            path = worker_file(path)
        if synchronous.upper() not in _SYNCHRONOUS:
            raise AuditError(f"SQLite synchronous must be one of {', '.join(_SYNCHRONOUS)}")
        self._synchronous = synchronous.upper()
        self._busy_timeout = busy_timeout
        self.blocking = self._synchronous != "NORMAL"
        # A blocking sink is written from the recorder's thread, which must not be inside SQLite
        # when the process forks (see .sqlite_checkpoint). A non-blocking one is written from the
        # event loop, which is the thread that forks: taking the guard there would only make
        # every commit wait for a running checkpoint (measured: p99 5 ms -> 21 ms).
        self._fork_guard = FORK_GUARD if self.blocking else contextlib.nullcontext()
        super().__init__(path, instance)
        self._conn = self._connect()
        self._checkpointer = Checkpointer(self.path)

    def _connect(self) -> sqlite3.Connection:
        if os.path.exists(self.path) and not os.access(self.path, os.W_OK):
            # SQLite would quietly open it read-only and fail only at the first append.
            raise AuditError(f"SQLite audit file {self.path} is not writable")
        try:
            # Created for its owner and group only, as the JSON-lines file: the records name
            # callers, and grant events carry reasons and tickets. SQLite gives its -wal and
            # -shm files the same mode. An existing file keeps the mode it has.
            os.close(os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o640))
        except OSError as exc:
            raise AuditError(f"cannot open SQLite audit file {self.path}: {reason(exc)}") from None
        try:
            conn = sqlite3.connect(
                self.path, timeout=self._busy_timeout, isolation_level=None, check_same_thread=False
            )
        except sqlite3.Error as exc:
            raise AuditError(f"cannot open SQLite audit file {self.path}: {reason(exc)}") from None
        try:
            self._setup(conn)
            self._remember_file()
        except (sqlite3.Error, OSError) as exc:
            conn.close()
            raise AuditError(f"cannot open SQLite audit file {self.path}: {reason(exc)}") from None
        except AuditError:
            conn.close()
            raise
        return conn

    def _setup(self, conn: sqlite3.Connection) -> None:
        """WAL mode and the table, retried while another process is doing the same.

        Switching a new file to WAL needs an exclusive lock, and SQLite answers
        "database is locked" at once (no busy wait) when two connections race
        for it, so processes starting together retry here for a while.
        """
        deadline = time.monotonic() + self._busy_timeout
        while True:
            try:
                mode = conn.execute("PRAGMA journal_mode=WAL").fetchone()
                if mode is None or str(mode[0]).lower() != "wal":
                    raise AuditError(f"SQLite audit file {self.path} cannot use WAL mode")
                conn.execute(f"PRAGMA synchronous={self._synchronous}")
                conn.execute(_SQLITE_SCHEMA)
                conn.execute("PRAGMA busy_timeout=0")  # writers wait in _begin, not in SQLite
                conn.execute("PRAGMA wal_autocheckpoint=0")  # see .sqlite_checkpoint
                return
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc) or time.monotonic() > deadline:
                    raise
                time.sleep(0.005 + random.random() * 0.02)

    def _begin(self, wait: bool) -> None:
        """Take the write lock; busy waits happen here, in short sleeps, or not at all.

        The connection's own busy handler is off (it sleeps in whole milliseconds,
        which on the service's event loop would stall every other request), so a
        writer that finds the file locked either retries here (``wait``) or raises
        :class:`AuditBusy` for the caller to retry on a later loop iteration.
        """
        deadline = 0.0
        while True:
            try:
                self._conn.execute("BEGIN IMMEDIATE")
                return
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc) and "busy" not in str(exc):
                    raise
                if not wait:
                    raise AuditBusy("the SQLite audit file is locked by another writer") from None
                now = time.monotonic()
                deadline = deadline or now + self._busy_timeout
                if now > deadline:
                    raise
                time.sleep(0.0002 + random.random() * 0.0008)

    def _write(self, seq: int, line: bytes) -> None:
        self._insert([(self.chain, seq, line.decode())], wait=True)

    def _insert(self, rows: list[tuple[str, int, str]], wait: bool) -> None:
        """Store ``rows`` in one transaction, or none of them (AuditBusy/AuditError)."""
        self._still_writable()
        try:
            with self._fork_guard:
                self._begin(wait)
                try:
                    self._conn.executemany(_SQLITE_INSERT, rows)
                    self._conn.execute("COMMIT")
                except BaseException:
                    self._conn.execute("ROLLBACK")
                    raise
        except sqlite3.Error as exc:
            raise AuditError(f"cannot write SQLite audit file {self.path}: {reason(exc)}") from None

    def append_many(self, events: Sequence[Mapping[str, Any]], wait: bool = True) -> None:
        """Chain and store several events in one transaction: all of them, or none.

        The service calls this with every event of a batch (group commit, see
        .recorder), so one commit's cost is shared by all the requests waiting
        on it; each request still returns only once its record is stored. With ``wait=False`` a store locked by another process raises
        :class:`AuditBusy` at once (nothing written) instead of waiting for it.
        """
        for event in events:
            check_event(event)
        with self._lock:
            self._ready()
            rows = []
            seq, prev = self._seq, self._prev
            for event in events:
                seq += 1
                digest, line = chained(event, self.chain, seq, prev)
                rows.append((self.chain, seq, line.decode()))
                prev = digest
            self._insert(rows, wait)
            self._seq, self._prev = seq, prev

    def _check(self) -> None:
        super()._check()
        try:
            self._conn.execute("SELECT 1 FROM audit LIMIT 0")
        except sqlite3.Error as exc:
            raise AuditError(f"SQLite audit file {self.path}: {reason(exc)}") from None

    def _reopen(self) -> None:
        _INHERITED.append(self._conn)  # SQLite must not use or close it in the child
        if self._per_worker:  # a forked child is another worker: its own file
            self.path = os.path.abspath(worker_file(self._base))
        self._conn = self._connect()
        self._checkpointer = Checkpointer(self.path)  # threads do not survive a fork

    def _close(self) -> None:
        self._checkpointer.stop()
        Checkpointer.checkpoint(self._conn)  # leave a short WAL behind
        self._conn.close()

    def records(self) -> Iterator[dict[str, Any]]:
        """Every stored record, by chain then seq, from a separate read-only connection."""
        return sqlite_records(self._base)


def worker_file(path: str) -> str:
    """The file one worker process writes when the store is split per worker."""
    return f"{path}.w{os.getpid()}"


def store_files(path: str) -> list[str]:
    """The files of the SQLite store at ``path``: the file itself and any per-worker files."""
    files = [path] if os.path.isfile(path) else []
    for name in sorted(glob.glob(glob.escape(path) + ".w*")):
        if not name.endswith(("-wal", "-shm", "-journal")) and os.path.isfile(name):
            files.append(name)
    return files


def sqlite_records(path: str) -> Iterator[dict[str, Any]]:
    """Read every record of the SQLite store at ``path`` (and its per-worker files) read-only."""
    files = store_files(path)
    if not files:
        raise AuditError(f"SQLite audit file {path} does not exist")
    if len(files) == 1:
        return _sqlite_file_records(files[0])
    return itertools.chain.from_iterable(_sqlite_file_records(f) for f in files)


def _sqlite_file_records(path: str) -> Iterator[dict[str, Any]]:
    try:
        conn = sqlite3.connect(f"file:{os.path.abspath(path)}?mode=ro", uri=True)
        cursor = conn.execute(_SQLITE_SELECT)
    except sqlite3.Error as exc:
        raise AuditError(f"cannot read SQLite audit file {path}: {reason(exc)}") from None
    return _sqlite_rows(conn, cursor, path)


def _sqlite_rows(
    conn: sqlite3.Connection, cursor: sqlite3.Cursor, path: str
) -> Iterator[dict[str, Any]]:
    try:
        while rows := cursor.fetchmany(1000):
            for chain, seq, text in rows:
                yield row_record(chain, seq, text)
    except sqlite3.Error as exc:
        raise AuditError(f"cannot read SQLite audit file {path}: {reason(exc)}") from None
    finally:
        conn.close()
