"""The access log: one JSON line per request saying what was called and how it went.

Operators need a line per request (who called which route in which group,
with what status, how fast) to run the service, but a request's path, query,
headers and body carry the very values the shim exists to keep apart: tokens
in ``/customers/{customerId}``, names in a query, keys in headers. So the line
is built only from things the shim itself chose::

    {"time": "...", "level": "info", "logger": "shim", "message": "request",
     "event": "request", "request_id": "<the shim's id>", "method": "GET",
     "route": "/customers/{customerId}", "group": "support", "caller": "key:partner",
     "side": "internal", "status": 200, "latency_ms": 1.234}

* ``route`` is the route's *template* from the mapping, never the concrete
  path; a request that matched no route logs :data:`UNMATCHED`;
* ``method`` is one of the standard HTTP methods, anything else ``OTHER``
  (the method is the one part of the request line a client may fill freely);
* ``caller`` is the identity the audit trail names (``key:<name>``,
  ``jwt:<issuer>#<sub>``) and ``side`` its side, both only once authenticated;
  ``group`` only once accepted for that caller (so it is one of the mapping's);
* ``caller_request_id`` is the caller's ``X-Request-Id`` only if it passed the
  envelope's sanity rule (1-128 of ``A-Z a-z 0-9 . _ : -``), as in the audit trail.

Level: a 5xx answer logs at ERROR, a refusal (401, 403, 413, 429) at WARNING,
everything else at INFO. ``SHIM_ACCESS_LOG=off`` turns the line off whatever
the level (errors and refusals keep their own log lines where they have one).

Cost: the level is checked before anything is built, and the record is handed
to the handlers directly (no caller lookup on the stack, which the logging
module would otherwise do per call: it is meaningless here).
"""

from __future__ import annotations

import logging
from typing import Final

from starlette.types import Scope

from .logs import logger

__all__ = ["UNMATCHED", "level_for", "log_access"]

UNMATCHED: Final = "unmatched"
_METHODS: Final = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
# The level of each status that is not INFO: one dict lookup per request, no branches.
_LEVELS: Final = {
    **dict.fromkeys((401, 403, 413, 429), logging.WARNING),
    **dict.fromkeys(range(500, 600), logging.ERROR),
}


def level_for(status: int) -> int:
    """The log level of the access line of a request answered ``status``."""
    return _LEVELS.get(status, logging.INFO)


def log_access(scope: Scope, route: str | None, status: int, latency_ms: float) -> None:
    """Write the access line of one finished request (``route``: its ``METHOD /template`` label).

    Everything is read from what the shim put in ``scope`` (its request id,
    the authenticated caller, the accepted group), never from the request's
    own path, query, headers or body.
    """
    level = _LEVELS.get(status, logging.INFO)  # level_for, inline: this runs per request
    if not logger.isEnabledFor(level):
        return
    method = scope["method"]
    if method not in _METHODS:
        method = "OTHER"
    template = route.partition(" ")[2] if route else UNMATCHED
    logger.handle(
        logger.makeRecord(
            logger.name, level, __file__, 0, "request", (), None,
            extra={
                "event": "request",
                "request_id": scope["shim.request_id"],
                "caller_request_id": scope.get("shim.caller_request_id"),
                "method": method,
                "route": template,
                "group": scope.get("shim.group"),
                "caller": scope.get("shim.caller"),
                "side": scope.get("shim.side"),
                "status": status,
                "latency_ms": round(latency_ms, 3),
            },
        )
    )  # fmt: skip
