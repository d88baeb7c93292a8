"""Service settings, read once from the environment at start-up.

A deployed shim is configured only through environment variables (twelve-factor
style, so the same image runs in every environment), and every value is checked
here, before the service accepts traffic: a typo in ``SHIM_MAX_BODY_BYTES``
should stop the shim at start-up with a message naming the variable, not surface
later as a puzzling 413. Messages never echo the value, because some variables
(``SHIM_AUDIT_URL``, the upstream URL) may carry credentials.

Variables (all optional; defaults in brackets):

``SHIM_CALLERS_FILE`` [unset: every request gets 401]
    YAML file of callers and JWT settings, see :mod:`.auth`.
``SHIM_AUDIT_URL`` [``sqlite:///./audit.db``]
    ``sqlite:///PATH``, ``postgresql://...`` or ``jsonl:///PATH``.
``SHIM_AUDIT_CHECKPOINTS`` [beside a file store: ``PATH.checkpoints.jsonl``; else ``./audit-checkpoints.jsonl``]
    JSON-lines file the signed audit checkpoints are appended to.
``SHIM_AUDIT_CHECKPOINT_INTERVAL`` [60]
    Seconds between signed audit checkpoints (also one at start-up and at shutdown).
``SHIM_MAX_BODY_BYTES`` [1048576], ``SHIM_MAX_BATCH`` [1000], ``SHIM_MAX_DEPTH`` [32]
    Request body size, records per batch, JSON nesting depth.
``SHIM_RATE_LIMIT`` [50] and ``SHIM_RATE_BURST`` [100]
    Requests per second per caller (0 turns rate limiting off) and bucket size.
``SHIM_SHARED_STORE_URL`` [unset: limits are per worker process]
    ``redis://[:PASSWORD@]HOST[:PORT][/DB]`` (or ``rediss://`` for TLS): a Redis
    server shared by every worker and replica, so a caller's rate limit holds
    for the whole service; see :mod:`.shared`.
``SHIM_SHARED_STORE_TIMEOUT`` [0.25]
    Seconds a rate-limit check may wait for that server (0.001 to 5); when it
    does not answer in time the process's own limit decides.
``SHIM_UPSTREAM_TIMEOUT`` [5.0]
    Seconds to wait for the internal API.
``SHIM_REQUEST_TIMEOUT`` [60]
    Seconds a whole request (headers and body) may take to arrive under ``serve``
    (30 to 3600); then 408 and the connection is closed, see :mod:`.http_head`.
    Raise it with ``SHIM_MAX_BODY_BYTES`` for large bodies from slow clients.
``SHIM_INSTANCE`` [host name]
    Name of this replica in audit records and logs.
``SHIM_LOG_LEVEL`` [INFO]
    DEBUG, INFO, WARNING, ERROR or CRITICAL.
``SHIM_ACCESS_LOG`` [on]
    ``on`` or ``off``: one JSON log line per request (route template, status,
    latency, caller, group; never a value), see :mod:`.access_log`.
``SHIM_TRACKING`` [on]
    ``on`` or ``off``: heuristic tracking (per-caller baselines, incidents), see
    :mod:`.tracking`; what each detection does is in the mapping (``tracking:``).
``SHIM_TRACKING_WINDOW`` [60]
    Seconds per tracking window (1 to 3600); an incident closes after a quiet window.
``SHIM_TRACKING_WARMUP_HOURS`` [168] and ``SHIM_TRACKING_WARMUP_REQUESTS`` [100]
    History a caller needs (both) before baseline detections apply to it.

The internal API's base URL is read from the variable whose *name* the mapping
gives (``upstream: {url_env: CUSTOMER_UPSTREAM_URL}``), passed as
``upstream_env``. Settings are a frozen dataclass so tests can derive variants
with :func:`dataclasses.replace`; validation runs in ``__post_init__`` so a
replaced value is checked just like one read from the environment.
"""

from __future__ import annotations

import math
import os
import re
import socket
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from urllib.parse import urlsplit, urlunsplit

__all__ = ["LOG_LEVELS", "ConfigError", "Settings", "redact_url"]

LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
STORE_SCHEMES = ("redis", "rediss")
AUDIT_SCHEMES = ("sqlite:///", "postgresql://", "postgres://", "jsonl:///")
_INT_RE = re.compile(r"[0-9]+", re.ASCII)
_FLOAT_RE = re.compile(r"[0-9]+(?:\.[0-9]+)?", re.ASCII)
_MAX_INSTANCE = 255
_SWITCH = {"on": True, "off": False}


class ConfigError(ValueError):
    """The shim's configuration is invalid; raised at start-up.

    The message names the variable (or file and line) and what is expected,
    never the offending value, which may be a secret. ``variable`` is the
    environment variable to fix when one is known, so the start-up check
    (:mod:`.startup`) can name it without parsing the message.
    """

    def __init__(self, message: str, variable: str | None = None) -> None:
        super().__init__(message)
        self.variable = variable


def _bad(variable: str, expected: str) -> ConfigError:
    return ConfigError(f"{variable} {expected}", variable)


def _default_instance() -> str:
    return socket.gethostname() or "shim"


@dataclass(frozen=True, slots=True)
class Settings:
    """Validated service settings; see the module docstring for the variables.

    Each field corresponds to one environment variable, named in ``_ENV`` so
    that a value set directly (tests, ``dataclasses.replace``) is reported
    under the variable an operator would have to fix.
    """

    callers_file: str | None = None
    audit_url: str = "sqlite:///./audit.db"
    audit_checkpoints: str | None = None
    audit_checkpoint_interval: float = 60.0
    max_body_bytes: int = 1_048_576
    max_batch: int = 1000
    max_depth: int = 32
    rate_limit: float = 50.0
    rate_burst: int = 100
    upstream_timeout: float = 5.0
    request_timeout: float = 60.0
    shared_store_url: str | None = None
    shared_store_timeout: float = 0.25
    instance: str = field(default_factory=_default_instance)
    log_level: str = "INFO"
    access_log: bool = True
    tracking: bool = True
    tracking_window: float = 60.0
    tracking_warmup_hours: float = 168.0
    tracking_warmup_requests: int = 100
    upstream_url: str | None = None
    upstream_env: str | None = None

    def __post_init__(self) -> None:
        for name in ("max_body_bytes", "max_batch", "max_depth", "rate_burst",
                     "tracking_warmup_requests"):  # fmt: skip
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise _bad(_ENV[name], "must be a whole number of at least 1")
        rate = self.rate_limit
        if not _is_number(rate) or not math.isfinite(rate) or rate < 0:
            raise _bad(
                "SHIM_RATE_LIMIT", "must be a number of requests per second, at least 0 (0 = off)"
            )
        timeout = self.upstream_timeout
        if not _is_number(timeout) or not math.isfinite(timeout) or timeout <= 0:
            raise _bad("SHIM_UPSTREAM_TIMEOUT", "must be a number of seconds greater than 0")
        request = self.request_timeout
        if not _is_number(request) or not 30 <= request <= 3600:
            raise _bad("SHIM_REQUEST_TIMEOUT", "must be a number of seconds from 30 to 3600")
        if self.shared_store_url is not None and not _is_store_url(self.shared_store_url):
            raise _bad(
                "SHIM_SHARED_STORE_URL",
                "must be redis://HOST[:PORT][/DB] or rediss://... (a Redis server)",
            )
        store_timeout = self.shared_store_timeout
        if not _is_number(store_timeout) or not 0.001 <= store_timeout <= 5:
            raise _bad("SHIM_SHARED_STORE_TIMEOUT", "must be a number of seconds from 0.001 to 5")
        if not isinstance(self.audit_url, str) or not any(
            self.audit_url.startswith(s) and len(self.audit_url) > len(s) for s in AUDIT_SCHEMES
        ):
            raise _bad(
                "SHIM_AUDIT_URL", "must be sqlite:///PATH, postgresql://... or jsonl:///PATH"
            )
        interval = self.audit_checkpoint_interval
        if not _is_number(interval) or not 0.01 <= interval <= 86400:
            raise ConfigError(
                "SHIM_AUDIT_CHECKPOINT_INTERVAL must be a number of seconds from 0.01 to 86400"
            )
        if self.audit_checkpoints is not None and (
            not isinstance(self.audit_checkpoints, str) or not self.audit_checkpoints
        ):
            raise ConfigError("SHIM_AUDIT_CHECKPOINTS must be the path of the checkpoint file")
        if self.callers_file is not None and (
            not isinstance(self.callers_file, str) or not self.callers_file
        ):
            raise _bad("SHIM_CALLERS_FILE", "must be the path of the callers YAML file")
        if (
            not isinstance(self.instance, str)
            or not 1 <= len(self.instance) <= _MAX_INSTANCE
            or not self.instance.isprintable()
        ):
            raise _bad(
                "SHIM_INSTANCE",
                f"must be 1-{_MAX_INSTANCE} printable characters naming this replica",
            )
        if self.log_level not in LOG_LEVELS:
            raise _bad("SHIM_LOG_LEVEL", f"must be one of {', '.join(LOG_LEVELS)}")
        if not isinstance(self.access_log, bool):
            raise _bad("SHIM_ACCESS_LOG", "must be on or off")
        if not isinstance(self.tracking, bool):
            raise _bad("SHIM_TRACKING", "must be on or off")
        if not _is_number(self.tracking_window) or not 1 <= self.tracking_window <= 3600:
            raise _bad("SHIM_TRACKING_WINDOW", "must be a number of seconds from 1 to 3600")
        hours = self.tracking_warmup_hours
        if not _is_number(hours) or not 0 <= hours <= 8760:
            raise _bad("SHIM_TRACKING_WARMUP_HOURS", "must be a number of hours from 0 to 8760")
        if self.upstream_url is not None and not _is_base_url(self.upstream_url):
            raise ConfigError(
                f"{self.upstream_env or 'the upstream URL variable'} must be an http:// or "
                "https:// base URL with a host and no query or fragment (the internal API's "
                "base URL)",
                self.upstream_env,
            )

    def __repr__(self) -> str:
        """Like the dataclass repr, but with passwords in URLs hidden (repr ends up in logs)."""
        parts = []
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name in ("audit_url", "upstream_url", "shared_store_url") and isinstance(
                value, str
            ):
                value = redact_url(value)
            parts.append(f"{f.name}={value!r}")
        return f"Settings({', '.join(parts)})"

    @classmethod
    def from_env(
        cls, environ: Mapping[str, str] = os.environ, upstream_env: str | None = None
    ) -> Settings:
        """Read and validate the settings; an empty variable counts as unset.

        ``upstream_env`` is the name of the variable holding the internal API's
        base URL (from the mapping); if that variable is unset the shim still
        starts, with ``upstream_url`` None, so the translation endpoints keep
        working and only the proxy routes fail.
        """

        def get(name: str) -> str | None:
            value = environ.get(name)
            if value is None:
                return None
            return value.strip() or None

        kwargs: dict[str, object] = {}
        for attr, var in _ENV.items():
            raw = get(var)
            if raw is None:
                continue
            if attr in ("max_body_bytes", "max_batch", "max_depth", "rate_burst",
                        "tracking_warmup_requests"):  # fmt: skip
                kwargs[attr] = _parse_int(var, raw)
            elif attr in (
                "rate_limit",
                "upstream_timeout",
                "request_timeout",
                "audit_checkpoint_interval",
                "shared_store_timeout",
                "tracking_window",
                "tracking_warmup_hours",
            ):
                kwargs[attr] = _parse_float(var, raw)
            elif attr == "log_level":
                kwargs[attr] = raw.upper()
            elif attr in ("access_log", "tracking"):
                kwargs[attr] = _parse_switch(var, raw)
            else:
                kwargs[attr] = raw
        if upstream_env is not None:
            kwargs["upstream_env"] = upstream_env
            url = get(upstream_env)
            if url is not None:
                kwargs["upstream_url"] = url.rstrip("/") if url.count("/") > 2 else url
        return cls(**kwargs)  # type: ignore[arg-type]


_ENV: dict[str, str] = {
    "callers_file": "SHIM_CALLERS_FILE",
    "audit_url": "SHIM_AUDIT_URL",
    "audit_checkpoints": "SHIM_AUDIT_CHECKPOINTS",
    "audit_checkpoint_interval": "SHIM_AUDIT_CHECKPOINT_INTERVAL",
    "max_body_bytes": "SHIM_MAX_BODY_BYTES",
    "max_batch": "SHIM_MAX_BATCH",
    "max_depth": "SHIM_MAX_DEPTH",
    "rate_limit": "SHIM_RATE_LIMIT",
    "rate_burst": "SHIM_RATE_BURST",
    "upstream_timeout": "SHIM_UPSTREAM_TIMEOUT",
    "request_timeout": "SHIM_REQUEST_TIMEOUT",
    "shared_store_url": "SHIM_SHARED_STORE_URL",
    "shared_store_timeout": "SHIM_SHARED_STORE_TIMEOUT",
    "instance": "SHIM_INSTANCE",
    "log_level": "SHIM_LOG_LEVEL",
    "access_log": "SHIM_ACCESS_LOG",
    "tracking": "SHIM_TRACKING",
    "tracking_window": "SHIM_TRACKING_WINDOW",
    "tracking_warmup_hours": "SHIM_TRACKING_WARMUP_HOURS",
    "tracking_warmup_requests": "SHIM_TRACKING_WARMUP_REQUESTS",
}


def _is_number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _parse_int(var: str, raw: str) -> int:
    # Only plain digits: int() would also take "1_000" and "+5", which hide typos.
    if _INT_RE.fullmatch(raw) is None:
        raise _bad(var, "must be a whole number of at least 1 (digits only)")
    return int(raw)


def _parse_switch(var: str, raw: str) -> bool:
    # Only the two words (any case): "0", "false" or "no" would be guesses at what was meant.
    word = raw.lower()
    if word not in _SWITCH:
        raise _bad(var, "must be on or off")
    return _SWITCH[word]


def _parse_float(var: str, raw: str) -> float:
    # Only plain decimals: float() would also take "٣", "1_000", "+5", "1e3" and spaces.
    if _FLOAT_RE.fullmatch(raw) is None:
        raise _bad(var, "must be a number (e.g. 5 or 2.5)")
    value = float(raw)
    if not math.isfinite(value):
        raise _bad(var, "must be a finite number")
    return value


def _is_base_url(url: object) -> bool:
    if not isinstance(url, str):
        return False
    try:
        parts = urlsplit(url)
        port_ok = parts.port is None or parts.port > 0  # .port raises on a bad port
    except ValueError:
        return False
    return (
        parts.scheme in ("http", "https")
        and bool(parts.hostname)
        and port_ok
        and not parts.query
        and not parts.fragment
        and url.isprintable()
        and " " not in url
    )


def _is_store_url(url: object) -> bool:
    if not isinstance(url, str) or not url.isprintable() or " " in url:
        return False
    try:
        parts = urlsplit(url)
        port_ok = parts.port is None or parts.port > 0
    except ValueError:
        return False
    db = parts.path.lstrip("/")
    return (
        parts.scheme in STORE_SCHEMES
        and bool(parts.hostname)
        and port_ok
        and (db == "" or (_INT_RE.fullmatch(db) is not None and int(db) < 16_384))
        and not parts.fragment
    )


def redact_url(url: str) -> str:
    """``url`` with any password replaced by ``***``, for logs and reprs."""
    try:
        parts = urlsplit(url)
        if parts.password is None:
            return url
        user = parts.username or ""
        host = parts.netloc.rpartition("@")[2]
        return urlunsplit(parts._replace(netloc=f"{user}:***@{host}"))
    except ValueError:
        return "<unparseable URL>"
