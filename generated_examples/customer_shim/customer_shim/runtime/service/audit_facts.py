"""Two facts the audit step takes from a request: its time, and its connection.

The time is the record's ``time`` in the form the audit trail writes (UTC,
microseconds, ``Z``), formatted cheaply: it is taken once per audited request.
The connection is what :class:`~..audit.recorder.Recorder`'s group commit keys
on to write a batch as soon as nothing more can join it.
"""

from __future__ import annotations

import time
from typing import Any, Final

from starlette.types import Scope

__all__ = ["connection", "utc_now"]

_ONE_AT_A_TIME: Final = frozenset({"1.0", "1.1"})
_second: list[Any] = [0, ""]  # the last whole second formatted, and its text


def utc_now() -> str:
    """``2026-11-24T20:00:00.123456Z``; the date part is formatted once per second."""
    now = time.time()
    whole = int(now)
    if whole != _second[0]:
        _second[0], _second[1] = whole, time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(whole))
    return f"{_second[1]}.{int((now - whole) * 1_000_000):06d}Z"


def connection(scope: Scope) -> Any:
    """The request's HTTP/1.1 connection as ``(host, port)``, or None when that is unknown.

    The recorder writes a batch early once every active connection waits on it,
    which is sound only when a connection carries one request at a time (not
    HTTP/2) and the address is the connection's own (not a proxy header's, port 0).
    """
    client = scope.get("client")
    if client and client[1] and scope.get("http_version") in _ONE_AT_A_TIME:
        return client if client.__class__ is tuple else tuple(client)
    return None
