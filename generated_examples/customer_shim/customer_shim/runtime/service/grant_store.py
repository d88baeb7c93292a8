"""Where elevation grants are kept: one table every worker and replica reads and writes.

A grant must look the same from every process serving the shim (a revocation
seen by one worker and not another would be a tail), so grants live in a
database beside the audit trail, never in process memory:

* ``postgresql://...`` audit URL: table ``grants`` in the same database. A state
  change runs in one transaction that first takes a transaction-scoped advisory
  lock, so changes from all replicas happen one after another (grant changes
  are human-paced; serialising them costs nothing and makes the holder limit,
  the one-grant-per-caller rule and approval counting plainly atomic).
* ``sqlite:///PATH`` or ``jsonl:///PATH``: the SQLite file ``PATH.grants.db``,
  shared by every worker of the host (WAL mode, ``BEGIN IMMEDIATE`` for a
  change). Not the audit file itself: a change writes its audit events *before*
  it commits (so a change whose event cannot be recorded does not happen), and
  in one file the change would hold the write lock the audit writer needs; and
  ``?per_worker=1`` splits the audit file per process, while grants must be one.
  These stores serve one host; several replicas need PostgreSQL (as the audit
  trail does).

The same plumbing keeps heuristic tracking's baselines (:mod:`.tracking_store`),
in tables of their own (:class:`Tables`: another file beside a file store,
another advisory lock), so saving them never waits on a grant change.

Every call here blocks (disk, network): the service runs them in worker threads
(``anyio.to_thread``), never on the event loop. One connection per process,
used under a lock.
"""

from __future__ import annotations

import contextlib
import os
import random
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from ..audit.chain import reason

__all__ = ["GRANTS", "GrantDB", "GrantStoreError", "Tables", "grants_location", "open_grant_db"]

Run = Callable[[str, tuple[Any, ...]], list[tuple[Any, ...]]]

SCHEMA = (
    "CREATE TABLE IF NOT EXISTS grants (id TEXT PRIMARY KEY, grp TEXT NOT NULL, "
    "caller TEXT NOT NULL, state TEXT NOT NULL, reason TEXT NOT NULL, ticket TEXT, "
    "seconds INTEGER NOT NULL, break_glass INTEGER NOT NULL, "
    "requested DOUBLE PRECISION NOT NULL, starts DOUBLE PRECISION, expires DOUBLE PRECISION, "
    "approved_by TEXT NOT NULL, ended_by TEXT, ended DOUBLE PRECISION, person TEXT NOT NULL)",
    "CREATE INDEX IF NOT EXISTS grants_person ON grants (person, state)",
    "CREATE INDEX IF NOT EXISTS grants_state ON grants (state, grp)",
    "CREATE INDEX IF NOT EXISTS grants_caller ON grants (caller)",
)
# one lock per schema: shims (or tests) in other schemas of the database do not wait on it
_PG_LOCK = "SELECT pg_advisory_xact_lock(hashtext('shimgen-grants:' || current_schema()))"


@dataclass(frozen=True)
class Tables:
    """What one store beside the audit trail holds: its tables, its file, its lock."""

    name: str  # in errors: "grant store"
    suffix: str  # a file audit store at PATH keeps these tables in PATH + suffix
    schema: tuple[str, ...]  # run when a connection opens (CREATE ... IF NOT EXISTS)
    lock: str  # PostgreSQL: the advisory lock every change holds


GRANTS = Tables("grant store", ".grants.db", SCHEMA, _PG_LOCK)


class GrantStoreError(Exception):
    """The grant store cannot be read or written now (the request gets a 503)."""


def grants_location(audit_url: str, suffix: str = GRANTS.suffix) -> tuple[str, str]:
    """``("sqlite", file)`` or ``("postgresql", url)``: where the grants of this audit URL live."""
    if audit_url.startswith(("postgresql://", "postgres://")):
        return "postgresql", audit_url
    for prefix in ("sqlite:///", "jsonl:///"):
        if audit_url.startswith(prefix):
            return "sqlite", audit_url[len(prefix) :].partition("?")[0] + suffix
    raise GrantStoreError("the audit URL names no store grants can live in")


class GrantDB:
    """One connection to the grant table; ``read`` for lookups, ``exclusive`` for changes."""

    kind = "grant"

    def __init__(self, tables: Tables = GRANTS) -> None:
        self.tables = tables
        self._lock = threading.Lock()

    def read(self, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        raise NotImplementedError  # pragma: no cover

    def exclusive(self) -> contextlib.AbstractContextManager[Run]:
        raise NotImplementedError  # pragma: no cover

    def close(self) -> None:
        raise NotImplementedError  # pragma: no cover


class SQLiteGrantDB(GrantDB):
    """The grant table in a SQLite file in WAL mode (readers never wait for the writer).

    Opened at first use, not at start-up: a file that cannot be opened refuses
    the guarded requests and the grant endpoints (503) while every other group
    is served, and the next use tries again.
    """

    def __init__(self, path: str, busy_timeout: float = 5.0, tables: Tables = GRANTS) -> None:
        super().__init__(tables)
        self.path = path
        self._busy_timeout = busy_timeout
        self._conn: sqlite3.Connection | None = None

    def _connection(self) -> sqlite3.Connection:
        """The open connection, or a new one with the table made; under ``_lock``."""
        if self._conn is not None:
            return self._conn
        deadline = time.monotonic() + self._busy_timeout
        while True:
            conn = None
            try:
                # owner only: reasons and tickets are not for every account on the host
                os.close(os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600))
                conn = sqlite3.connect(
                    self.path, timeout=self._busy_timeout, isolation_level=None,
                    check_same_thread=False,
                )  # fmt: skip
                # Switching a new file to WAL answers "locked" at once (no busy wait) when
                # workers starting together race for it: retried below, briefly.
                conn.execute("PRAGMA journal_mode=WAL")
                conn.execute("BEGIN IMMEDIATE")
                for statement in self.tables.schema:
                    conn.execute(statement)
                conn.execute("COMMIT")
            except (sqlite3.Error, OSError) as exc:
                if conn is not None:
                    conn.close()
                if "locked" in str(exc) and time.monotonic() < deadline:
                    time.sleep(0.005 + random.random() * 0.02)
                    continue
                why = reason(exc)
                raise GrantStoreError(
                    f"cannot open the {self.tables.name} {self.path}: {why}"
                ) from None
            self._conn = conn
            return conn

    def read(self, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        with self._lock:
            conn = self._connection()
            try:
                return conn.execute(sql, params).fetchall()
            except sqlite3.Error as exc:
                raise GrantStoreError(f"{self.tables.name}: {reason(exc)}") from None

    @contextlib.contextmanager
    def exclusive(self) -> Iterator[Run]:
        """A write transaction (``BEGIN IMMEDIATE``: the file's write lock from the start)."""
        with self._lock:
            conn = self._connection()

            def run(sql: str, params: tuple[Any, ...]) -> list[tuple[Any, ...]]:
                return conn.execute(sql, params).fetchall()

            try:
                conn.execute("BEGIN IMMEDIATE")
            except sqlite3.Error as exc:
                raise GrantStoreError(f"{self.tables.name}: {reason(exc)}") from None
            try:
                yield run
                conn.execute("COMMIT")
            except sqlite3.Error as exc:
                conn.execute("ROLLBACK")
                raise GrantStoreError(f"{self.tables.name}: {reason(exc)}") from None
            except BaseException:
                conn.execute("ROLLBACK")
                raise

    def close(self) -> None:
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None


class PostgresGrantDB(GrantDB):
    """The grant table in the audit trail's PostgreSQL database; reconnects after a failure.

    Like the PostgreSQL audit sink, opening does not fail while the server is
    down: the shim starts, grant checks answer 503 until the server is back.
    """

    def __init__(self, url: str, tables: Tables = GRANTS) -> None:
        super().__init__(tables)
        self._url = url
        self._conn: Any = None
        with contextlib.suppress(GrantStoreError), self._lock:
            self._connection()

    def _connection(self) -> Any:
        """The open connection, or a new one (the table made if missing); under ``_lock``."""
        conn = self._conn
        if conn is not None and not conn.closed and not conn.broken:
            return conn
        import psycopg  # imported only for a PostgreSQL store

        from ..audit.pg import _connect

        conn = None
        try:
            conn = _connect(self._url, autocommit=True)
            with conn.transaction():  # the lock also serialises replicas creating the table
                conn.execute(self.tables.lock)
                for statement in self.tables.schema:
                    conn.execute(statement)
        except psycopg.Error as exc:
            self._conn = None
            if conn is not None:
                conn.close()
            raise GrantStoreError(f"{self.tables.name} unavailable: {reason(exc)}") from None
        self._conn = conn
        return conn

    def read(self, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        import psycopg

        with self._lock:
            conn = self._connection()
            try:
                return list(conn.execute(sql.replace("?", "%s"), params).fetchall())
            except psycopg.Error as exc:
                self._drop()
                raise GrantStoreError(f"{self.tables.name}: {reason(exc)}") from None

    @contextlib.contextmanager
    def exclusive(self) -> Iterator[Run]:
        """A transaction holding the grants' advisory lock until it commits or rolls back."""
        import psycopg

        with self._lock:
            conn = self._connection()

            def run(sql: str, params: tuple[Any, ...]) -> list[tuple[Any, ...]]:
                cur = conn.execute(sql.replace("?", "%s"), params)
                return list(cur.fetchall()) if cur.description is not None else []

            try:
                with conn.transaction():
                    conn.execute(self.tables.lock)
                    yield run
            except psycopg.Error as exc:
                self._drop()
                raise GrantStoreError(f"{self.tables.name}: {reason(exc)}") from None

    def _drop(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            with contextlib.suppress(Exception):
                conn.close()

    def close(self) -> None:
        with self._lock:
            self._drop()


def open_grant_db(audit_url: str, tables: Tables = GRANTS) -> GrantDB:
    """The grant table (or ``tables``) that belongs with the audit store at ``audit_url``
    (created if missing)."""
    kind, target = grants_location(audit_url, tables.suffix)
    if kind == "postgresql":
        return PostgresGrantDB(target, tables)
    return SQLiteGrantDB(target, tables=tables)
