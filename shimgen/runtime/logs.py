"""Structured JSON logs that can never carry a record value, token or key.

One JSON object per line on stderr, for the platform's log collector::

    {"time": "2026-11-24T20:00:00.123Z", "level": "warning", "logger": "shim",
     "event": "request", "request_id": "...", "route": "POST /v1/outbound",
     "group": "billing", "caller": "partner-portal", "status": 403, "latency_ms": 0.41}

Only the fields in :data:`FIELDS` are ever written (anything else passed in
``extra`` is dropped), and the shim only passes names, statuses, numbers and its
own fixed texts. Exceptions are logged as their type and the file:line where
they were raised, never their message or traceback: both can quote the data
being processed.

Levels: a request answered 5xx logs at ERROR, a refusal (401, 403, 413, 429)
at WARNING, other 4xx at INFO, and a successful one at DEBUG, so the access
log per request costs nothing unless ``SHIM_LOG_LEVEL=DEBUG``.
"""

from __future__ import annotations

import logging
import os
import sys
import time
from types import TracebackType
from typing import Any, Final

import orjson

__all__ = ["FIELDS", "JsonFormatter", "configure", "exception_fields", "log_request", "logger"]

logger: Final = logging.getLogger("shim")

FIELDS: Final = (
    "event",
    "request_id",
    "route",
    "method",
    "group",
    "caller",
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
)
_REFUSALS: Final = frozenset({401, 403, 413, 429})


class JsonFormatter(logging.Formatter):
    """Formats a record as one JSON line with only the allow-listed fields."""

    def format(self, record: logging.LogRecord) -> str:
        t = record.created
        out: dict[str, Any] = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t))
            + f".{int(t % 1 * 1000):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.msg if isinstance(record.msg, str) else "",
        }
        for name in FIELDS:
            value = record.__dict__.get(name)
            if value is not None:
                out[name] = value
        # record.args, exc_info and stack_info are deliberately never rendered.
        return orjson.dumps(out, default=str).decode()


def configure(level: str = "INFO") -> None:
    """Send the ``shim`` logger's records to stderr as JSON at ``level``.

    Idempotent, so building several apps (tests, reloads) adds one handler.
    """
    logger.setLevel(level)
    logger.propagate = False
    if not any(getattr(h, "_shim_json", False) for h in logger.handlers):
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(JsonFormatter())
        handler._shim_json = True  # type: ignore[attr-defined]
        logger.addHandler(handler)


def exception_fields(exc: BaseException) -> dict[str, str]:
    """Type and innermost ``file:line`` of ``exc``: enough to find the bug, no data."""
    tb: TracebackType | None = exc.__traceback__
    where = ""
    while tb is not None:
        code = tb.tb_frame.f_code
        where = f"{os.path.basename(code.co_filename)}:{tb.tb_lineno}"
        tb = tb.tb_next
    return {"error_type": type(exc).__name__, "where": where}


def log_request(
    request_id: str,
    route: str,
    group: str | None,
    caller: str | None,
    status: int,
    latency_ms: float,
) -> None:
    """The access-log line for one request, at a level that depends on its status."""
    if status >= 500:
        level = logging.ERROR
    elif status in _REFUSALS:
        level = logging.WARNING
    elif status >= 400:
        level = logging.INFO
    else:
        level = logging.DEBUG
    if not logger.isEnabledFor(level):
        return
    logger.log(
        level,
        "request",
        extra={
            "event": "request",
            "request_id": request_id,
            "route": route,
            "group": group,
            "caller": caller,
            "status": status,
            "latency_ms": round(latency_ms, 3),
        },
    )
