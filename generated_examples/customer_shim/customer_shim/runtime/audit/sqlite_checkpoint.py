"""WAL checkpoints for the SQLite audit store, off the request path.

SQLite's automatic checkpoint runs inside whichever commit crosses the WAL size
limit: that commit copies the log into the database file and fsyncs it, so one
request in a few thousand stalls its worker's event loop for milliseconds, and
every request pays for the copying on average (measured: about 2 us per request
on the customer shim). The audit sink turns automatic checkpoints off and this
thread runs a PASSIVE checkpoint (which never blocks writers) on its own
connection every ``interval`` seconds, while the event loop keeps serving.

SQLite is not fork-safe while another thread is inside it: a child forked
while this thread held one of SQLite's internal mutexes would block forever on
its first SQLite call (seen once in CI). So background threads (this one, and
the recorder's writer thread for blocking sinks) make their SQLite calls under
``FORK_GUARD``, which ``fork()`` takes first and releases afterwards.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import threading

__all__ = ["FORK_GUARD", "Checkpointer"]

FORK_GUARD = threading.Lock()
os.register_at_fork(
    before=FORK_GUARD.acquire,
    after_in_parent=FORK_GUARD.release,
    after_in_child=FORK_GUARD.release,
)


class Checkpointer:
    """A daemon thread that checkpoints the WAL of the SQLite file at ``path``."""

    def __init__(self, path: str, interval: float = 0.5) -> None:
        self.path = path
        self.interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="shim-audit-checkpoint", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            with FORK_GUARD:
                conn = sqlite3.connect(self.path, timeout=0, isolation_level=None)
        except sqlite3.Error:
            return  # the writer reports an unusable file on its own
        try:
            while not self._stop.wait(self.interval):
                with FORK_GUARD:
                    self.checkpoint(conn)
        finally:
            with FORK_GUARD:
                conn.close()

    @staticmethod
    def checkpoint(conn: sqlite3.Connection, mode: str = "PASSIVE") -> None:
        """One checkpoint; a busy or failing one is simply tried again next time."""
        with contextlib.suppress(sqlite3.Error):
            conn.execute(f"PRAGMA wal_checkpoint({mode})").fetchall()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join(timeout=5)
