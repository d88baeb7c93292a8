"""Audit records in PostgreSQL, for shims with several replicas or no disk worth keeping.

One connection per sink (per process), in autocommit mode: each append is one
INSERT, committed before ``append`` returns (durable as the server's
``synchronous_commit`` makes it). Every process writes its own chain, so many
replicas can share one table without locks or coordination; the primary key
``(chain, seq)`` refuses a second record at a place already taken.

The sink survives the database going away: a broken connection is dropped and
the next append (or ``check``) reconnects, waiting at least a second between
failed attempts so a dead server is not hammered. An INSERT whose answer was
lost may still have committed, so after reconnecting the sink reads the last
record of its own chain and adopts it when it is the one it was writing; the
chain stays contiguous and nothing is written twice. TCP keepalives and a TCP
user timeout (unless the URL sets its own) bound how long a request can hang
on a dead network.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from typing import Any

import orjson
import psycopg
from psycopg import errors
from psycopg.conninfo import conninfo_to_dict, make_conninfo
from psycopg.rows import TupleRow

from .chain import AuditError, ChainedSink, reason, row_record

__all__ = ["PostgresSink", "pg_records"]

_SCHEMA = (
    "CREATE TABLE audit (chain TEXT NOT NULL, seq BIGINT NOT NULL, record TEXT NOT NULL, "
    "PRIMARY KEY (chain, seq))"
)
_EXISTS = "SELECT to_regclass('audit') IS NOT NULL"
_INSERT = "INSERT INTO audit (chain, seq, record) VALUES (%s, %s, %s)"
_LAST = "SELECT seq, record FROM audit WHERE chain = %s ORDER BY seq DESC LIMIT 1"
_SELECT = "SELECT chain, seq, record FROM audit ORDER BY chain, seq"
_WRITABLE = (
    "SELECT NOT pg_is_in_recovery() AND current_setting('transaction_read_only') = 'off' "
    "AND has_table_privilege('audit', 'INSERT')"
)
# Used unless the URL says otherwise: fail in seconds, not after the kernel's TCP timeouts.
_DEFAULTS = {
    "connect_timeout": "5",
    "keepalives": "1",
    "keepalives_idle": "10",
    "keepalives_interval": "3",
    "keepalives_count": "3",
    "tcp_user_timeout": "15000",
    "application_name": "shimgen-audit",
}
_RETRY_AFTER = 1.0  # seconds between failed connection attempts
_INHERITED: list[object] = []  # connections inherited over fork(): never used, never closed

Conn = psycopg.Connection[TupleRow]


def _extra_params(url: str) -> dict[str, str]:
    try:
        given = conninfo_to_dict(url)
    except psycopg.Error:
        # The message would quote the URL, password included.
        raise AuditError("the PostgreSQL audit URL is not a valid connection URL") from None
    return {k: v for k, v in _DEFAULTS.items() if k not in given}


def check_url(url: str) -> None:
    """Raise :class:`AuditError` if ``url`` is not a connection URL libpq accepts; connects not."""
    _extra_params(url)


def _connect(url: str, autocommit: bool) -> Conn:
    return psycopg.connect(make_conninfo(url, **_extra_params(url)), autocommit=autocommit)


class PostgresSink(ChainedSink):
    """Appends each record to table ``audit`` (created if missing) over one connection.

    Opening does not fail when the server is down (the service starts, reports
    not ready, and recovers by itself); it fails for a malformed URL.
    """

    kind = "PostgreSQL"
    blocking = True

    def __init__(self, url: str, instance: str) -> None:
        self._url = url
        _extra_params(url)  # a malformed URL is a configuration error: fail now
        self._conn: Conn | None = None
        self._down_until = 0.0
        self._adopted = ""
        super().__init__(instance)
        with contextlib.suppress(AuditError):
            self._connection()

    def _connection(self, retry_now: bool = False) -> Conn:
        """The open connection, or a new one, resynchronised with the chain as stored."""
        conn = self._conn
        if conn is not None and not conn.closed and not conn.broken:
            return conn
        self._conn = None
        now = time.monotonic()
        if not retry_now and now < self._down_until:
            raise AuditError("PostgreSQL audit database unavailable; retrying shortly")
        conn = None
        try:
            conn = _connect(self._url, autocommit=True)
            row = conn.execute(_EXISTS).fetchone()
            if row is None or not row[0]:
                # Another process may create it at the same moment.
                with contextlib.suppress(errors.DuplicateTable, errors.UniqueViolation):
                    conn.execute(_SCHEMA)
            last = conn.execute(_LAST, (self.chain,)).fetchone()
        except psycopg.Error as exc:
            self._down_until = now + _RETRY_AFTER
            if conn is not None:
                conn.close()
            raise AuditError(f"PostgreSQL audit database unavailable: {reason(exc)}") from None
        self._conn = conn
        if last is not None and last[0] > self._seq:
            self._adopt(int(last[0]), last[1])
        return conn

    def _adopt(self, seq: int, text: str) -> None:
        """Take over a record of our own chain that was stored although its answer was lost."""
        if seq != self._seq + 1:
            raise AuditError(
                f"PostgreSQL audit chain {self.chain} holds records this process did not write"
            )
        try:
            digest = orjson.loads(text)["hash"]
        except (orjson.JSONDecodeError, TypeError, KeyError):
            raise AuditError(
                f"PostgreSQL audit chain {self.chain} ends in an unreadable record"
            ) from None
        self._seq = seq
        self._prev = str(digest)
        self._adopted = text

    def _prepare(self) -> None:
        # Connect before the record is built: reconnecting may adopt a stored record.
        self._connection()

    def _write(self, seq: int, line: bytes) -> None:
        text = line.decode()
        self._adopted = ""
        conn = self._connection()
        if self._seq >= seq:  # pragma: no cover - the chain moved on between _prepare and here
            raise AuditError("PostgreSQL audit chain moved on while reconnecting; try again")
        try:
            conn.execute(_INSERT, (self.chain, seq, text))
            return
        except psycopg.OperationalError as exc:
            first: psycopg.Error = exc  # the connection broke; reconnect and retry once
        except psycopg.Error as exc:
            self._drop()
            raise AuditError(f"cannot write PostgreSQL audit record: {reason(exc)}") from None
        self._drop()
        try:
            conn = self._connection(retry_now=True)
        except AuditError:
            raise AuditError(f"cannot write PostgreSQL audit record: {reason(first)}") from None
        if self._seq == seq:
            if self._adopted == text:
                return  # it was committed; only the answer was lost
            raise AuditError(f"PostgreSQL audit chain {self.chain} has another record at seq {seq}")
        try:
            conn.execute(_INSERT, (self.chain, seq, text))
        except psycopg.Error as exc:
            self._drop()
            raise AuditError(f"cannot write PostgreSQL audit record: {reason(exc)}") from None

    def _check(self) -> None:
        conn = self._connection()
        try:
            row = conn.execute(_WRITABLE).fetchone()
        except psycopg.Error as exc:
            self._drop()
            raise AuditError(f"PostgreSQL audit database: {reason(exc)}") from None
        if row is None or not row[0]:
            raise AuditError(
                "PostgreSQL audit database is read-only or table audit is not writable"
            )

    def _drop(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            with contextlib.suppress(psycopg.Error):
                conn.close()

    def _reopen(self) -> None:
        # Closing would end the parent's session on the shared socket.
        _INHERITED.append(self._conn)
        self._conn = None
        self._down_until = 0.0

    def _close(self) -> None:
        self._drop()

    def records(self) -> Iterator[dict[str, Any]]:
        """Every stored record, by chain then seq, over a separate connection."""
        return pg_records(self._url)


def pg_records(url: str) -> Iterator[dict[str, Any]]:
    """Read every record of table ``audit`` at ``url`` (server-side cursor: any size)."""
    conn = None
    try:
        conn = _connect(url, autocommit=False)
        row = conn.execute(_EXISTS).fetchone()
        if row is None or not row[0]:
            raise AuditError("the PostgreSQL audit database has no audit table")
    except psycopg.Error as exc:
        if conn is not None:
            conn.close()
        raise AuditError(f"cannot read PostgreSQL audit database: {reason(exc)}") from None
    except AuditError:
        if conn is not None:
            conn.close()
        raise
    return _pg_rows(conn)


def _pg_rows(conn: Conn) -> Iterator[dict[str, Any]]:
    try:
        with conn, conn.cursor(name="shimgen_audit_records") as cur:
            cur.itersize = 2000
            cur.execute(_SELECT)
            for chain, seq, text in cur:
                yield row_record(chain, seq, text)
    except psycopg.Error as exc:
        raise AuditError(f"cannot read PostgreSQL audit database: {reason(exc)}") from None
    finally:
        conn.close()
