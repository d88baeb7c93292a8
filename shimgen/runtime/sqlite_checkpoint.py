"""WAL checkpoints for the SQLite audit store, off the request path.

SQLite's automatic checkpoint runs inside whichever commit crosses the WAL size
limit: that commit copies the log into the database file and fsyncs it, so one
request in a few thousand stalls its worker's event loop for milliseconds, and
every request pays for the copying on average (measured: about 2 us per request
on the customer shim). The audit sink turns automatic checkpoints off and this
thread runs a PASSIVE checkpoint (which never blocks writers) on its own
connection every ``interval`` seconds, while the event loop keeps serving.
"""

from __future__ import annotations

import contextlib
import sqlite3
import threading

__all__ = ["Checkpointer"]


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
            conn = sqlite3.connect(self.path, timeout=0, isolation_level=None)
        except sqlite3.Error:
            return  # the writer reports an unusable file on its own
        try:
            while not self._stop.wait(self.interval):
                self.checkpoint(conn)
        finally:
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
