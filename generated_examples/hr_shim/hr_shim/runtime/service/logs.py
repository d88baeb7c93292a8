"""Structured JSON logs that can never carry a record value, token or key.

One JSON object per line on stderr, for the platform's log collector::

    {"time": "2026-11-24T20:00:00.123Z", "level": "warning", "logger": "shim",
     "message": "request", "event": "request", "request_id": "...", "method": "POST",
     "route": "/v1/outbound", "group": "billing", "caller": "key:partner-portal",
     "side": "external", "status": 403, "latency_ms": 0.41}

Only the fields in :data:`FIELDS` are ever written (anything else passed in
``extra`` is dropped), and the shim only passes names, statuses, numbers and its
own fixed texts. Exceptions are logged as their type and the file:line where
they were raised, never their message or traceback: both can quote the data
being processed.

The per-request access line is :mod:`.access_log`'s (on by default,
``SHIM_ACCESS_LOG=off`` turns it off). uvicorn's own access log is always
turned off (:func:`configure`): it prints the concrete request line, whose path
and query carry tokens and ids.
"""

from __future__ import annotations

import logging
import os
import sys
import time
from types import TracebackType
from typing import Any, Final

import orjson

__all__ = ["FIELDS", "JsonFormatter", "configure", "exception_fields", "logger"]

logger: Final = logging.getLogger("shim")

FIELDS: Final = (
    "event",
    "request_id",
    "caller_request_id",
    "method",
    "route",
    "group",
    "caller",
    "side",
    "status",
    "latency_ms",
    "records",
    "direction",
    "error_type",
    "where",
    "check",
    "upstream_status",
    "instance",
    "mapping",
    "version",
    "checkpoint",
    "grant",
    "incident",
    "kind",
    "effect",
    "evidence",
    "connections",
)


class JsonFormatter(logging.Formatter):
    """Formats a record as one JSON line with only the allow-listed fields.

    It runs once per request (the access line), so it is kept cheap: the
    timestamp's seconds are formatted once per second, not per line.
    """

    _second: tuple[int, str] = (-1, "")

    def format(self, record: logging.LogRecord) -> str:
        t = record.created
        whole = int(t)
        second, stamp = self._second
        if second != whole:
            stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(whole))
            self._second = (whole, stamp)  # one assignment: safe for handlers on other threads
        fields = record.__dict__
        out: dict[str, Any] = {
            "time": f"{stamp}.{int((t - whole) * 1000):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            # uvicorn's own lines (start, stop) are written with their arguments (a host, a
            # port, a pid); the shim's never are (its texts are fixed, values go in FIELDS)
            "message": record.getMessage()
            if record.name.startswith("uvicorn")
            else record.msg
            if isinstance(record.msg, str)
            else "",
        }
        for name in FIELDS:
            value = fields.get(name)
            if value is not None:
                out[name] = value
        # record.args, exc_info and stack_info are deliberately never rendered.
        return orjson.dumps(out, default=str).decode()


def configure(level: str = "INFO") -> None:
    """Send the ``shim`` logger's records to stderr as JSON at ``level``; silence uvicorn's access log.

    Idempotent, so building several apps (tests, reloads) adds one handler.
    uvicorn's access log (logger ``uvicorn.access``) writes the raw request
    line, ``GET /customers/<token>?expand=... HTTP/1.1``: values. ``serve``
    already starts uvicorn without it; silencing the logger here also covers
    uvicorn run by hand on the factory or on a built app, which has it on by
    default. The filter outlives a later ``logging.config.dictConfig`` (uvicorn
    configures its loggers when it starts, which re-enables a disabled logger
    but keeps its filters); disabling the logger as well spares uvicorn
    building each line. The shim's own access line replaces it.
    """
    uvicorn_access = logging.getLogger("uvicorn.access")
    if _drop not in uvicorn_access.filters:
        uvicorn_access.addFilter(_drop)
    uvicorn_access.disabled = True
    logger.setLevel(level)
    logger.propagate = False
    if not any(getattr(h, "_shim_json", False) for h in logger.handlers):
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(JsonFormatter())
        handler._shim_json = True  # type: ignore[attr-defined]
        logger.addHandler(handler)


def _drop(record: logging.LogRecord) -> bool:
    """A logging filter that lets nothing through (uvicorn's access log, see :func:`configure`)."""
    return False


def exception_fields(exc: BaseException) -> dict[str, str]:
    """Type and innermost ``file:line`` of ``exc``: enough to find the bug, no data."""
    tb: TracebackType | None = exc.__traceback__
    where = ""
    while tb is not None:
        code = tb.tb_frame.f_code
        where = f"{os.path.basename(code.co_filename)}:{tb.tb_lineno}"
        tb = tb.tb_next
    return {"error_type": type(exc).__name__, "where": where}
