"""The start-up check: the whole configuration, once, before any worker starts.

``serve`` runs :func:`check` in the parent process. Without it each uvicorn
worker would read the configuration itself and fail on the same bad value,
printing a traceback each time, and depending on uvicorn's version the parent
would restart the workers forever or stop with exit code 0. With it a bad
value stops ``serve`` with one line naming the variable, and exit code 2, for
any number of workers.

The checks are the very functions the workers run (:meth:`Settings.from_env
<.settings.Settings.from_env>`, :func:`.keys.load_keyset`,
:meth:`Callers.from_yaml <.callers.Callers.from_yaml>`, :func:`.audit.check_url`),
so the check and the workers cannot disagree about what is valid. Nothing is
opened or created: the audit store is opened by the workers.

A message names the variable and never its value: values can be secrets (the
keyset JSON, a database password in ``SHIM_AUDIT_URL``, the JWT secret). The
functions called here already avoid quoting values; as a second line of
defence the value of every ``SHIM_*`` variable and of the upstream URL
variable is replaced by ``<NAME>`` in any message that would still quote it.
"""

from __future__ import annotations

import os
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from pathlib import Path

from ..audit import trail as audit
from ..core import keys
from ..core.errors import KeysetError
from .callers import Callers
from .settings import ConfigError, Settings

__all__ = ["Checked", "StartupError", "check", "scrub"]

_SCRUB_MIN = 4  # shorter values (a port, "1") would blot out ordinary words


class StartupError(Exception):
    """A configuration problem found before start: the variable and what is wrong."""

    def __init__(self, variable: str, message: str) -> None:
        super().__init__(variable, message)
        self.variable = variable
        self.message = message

    def __str__(self) -> str:
        """One line that starts with the variable's name."""
        text = " ".join(self.message.split())
        return text if text.startswith(self.variable) else f"{self.variable}: {text}"


@dataclass(frozen=True, slots=True)
class Checked:
    """What the check established: the settings and the keyset (``dev``: ephemeral)."""

    settings: Settings
    keyset: keys.Keyset
    dev: bool


def check(
    groups: Collection[str],
    upstream_env: str | None,
    environ: Mapping[str, str] = os.environ,
    *,
    beyond: Mapping[str, str] | None = None,
) -> Checked:
    """Check every setting the service reads; raises :class:`StartupError` for the first bad one.

    ``groups`` are the mapping's functional groups (the callers file may name
    only these), ``beyond`` each elevated group's standing group that its
    eligible callers must be listed for too (:func:`.elevation.beyond_groups`),
    ``upstream_env`` the name of the variable holding the internal API's URL.
    An ephemeral keyset (``SHIM_DEV_KEYS=1``) is made here, once, so that its
    warning is printed once.
    """
    try:
        settings = _settings(upstream_env, environ)
        keyset, dev = _keyset(environ)
        _callers(settings.callers_file, groups, environ, beyond or {})
        _audit(settings.audit_url)
        _writable(
            settings.audit_checkpoints or audit.default_checkpoints(settings.audit_url),
            "SHIM_AUDIT_CHECKPOINTS",
            "checkpoint file",
        )
    except StartupError as exc:
        names = [n for n in environ if n.startswith("SHIM_") or n == upstream_env]
        raise StartupError(exc.variable, scrub(exc.message, environ, names)) from None
    return Checked(settings, keyset, dev)


def scrub(message: str, environ: Mapping[str, str], names: Collection[str]) -> str:
    """``message`` with the value of each variable in ``names`` replaced by ``<NAME>``."""
    values = sorted(
        ((environ.get(name, "").strip(), name) for name in names),
        key=lambda pair: -len(pair[0]),  # longest first: one value may contain another
    )
    for value, name in values:
        if len(value) >= _SCRUB_MIN and value in message:
            message = message.replace(repr(value), f"<{name}>").replace(value, f"<{name}>")
    return message


def _settings(upstream_env: str | None, environ: Mapping[str, str]) -> Settings:
    try:
        return Settings.from_env(environ, upstream_env=upstream_env)
    except ConfigError as exc:
        raise StartupError(exc.variable or "configuration", str(exc)) from None


def _keyset(environ: Mapping[str, str]) -> tuple[keys.Keyset, bool]:
    has_file = bool(environ.get("SHIM_KEYS_FILE"))
    has_json = bool(environ.get("SHIM_KEYS"))
    variable = "SHIM_KEYS_FILE" if has_file and not has_json else "SHIM_KEYS"
    try:
        keyset = keys.load_keyset(environ)
        keyset.audit_key  # noqa: B018 - no unsigned mode: a keyset without one stops here
    except KeysetError as exc:
        raise StartupError(variable, str(exc)) from None
    return keyset, not has_file and not has_json


def _callers(
    path: str | None,
    groups: Collection[str],
    environ: Mapping[str, str],
    beyond: Mapping[str, str],
) -> None:
    """Read the callers file here, so its errors name the variable, not the file's path."""
    if path is None:
        return
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise StartupError(
            "SHIM_CALLERS_FILE", f"cannot read the callers file: {exc.strerror or 'not readable'}"
        ) from None
    except UnicodeDecodeError:
        raise StartupError("SHIM_CALLERS_FILE", "the callers file is not UTF-8 text") from None
    try:
        Callers.from_yaml(
            text,
            groups,
            environ=environ,
            source="SHIM_CALLERS_FILE",
            base_dir=Path(path).parent,
            beyond=beyond,
        )
    except ConfigError as exc:
        raise StartupError(exc.variable or "SHIM_CALLERS_FILE", str(exc)) from None


def _audit(url: str) -> None:
    """The URL's form, and for a file store a directory the workers can create the file in."""
    try:
        path = audit.check_url(url)
    except audit.AuditError as exc:
        raise StartupError("SHIM_AUDIT_URL", str(exc)) from None
    except ImportError:
        raise StartupError(
            "SHIM_AUDIT_URL",
            "a PostgreSQL audit store needs psycopg: pip install 'psycopg[binary]'",
        ) from None
    if path is not None:
        _writable(path, "SHIM_AUDIT_URL", "audit file")


def _writable(path: str, variable: str, what: str) -> None:
    """A file the workers can create or append to: its directory exists and is writable."""
    file = Path(path)
    folder = file.parent if str(file.parent) else Path(".")
    if not folder.is_dir():
        raise StartupError(variable, f"the {what}'s directory does not exist")
    if file.is_dir():
        raise StartupError(variable, f"the {what}'s path is a directory")
    if not os.access(file if file.exists() else folder, os.W_OK):
        raise StartupError(variable, f"the {what} (or its directory) is not writable")
