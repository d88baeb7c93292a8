"""The two ways an audit store says no: busy right now, or failed (nothing was written)."""

from __future__ import annotations

__all__ = ["AuditBusy", "AuditError"]


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
