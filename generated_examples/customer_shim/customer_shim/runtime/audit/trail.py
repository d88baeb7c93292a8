"""The audit trail: one hash-chained record per crossing, and the means to verify it.

The service hands each crossing to ``sink.append(event)`` as a dict with
exactly the contract's fields (time, request_id, caller_request_id, caller, group, route,
direction, mapping, mapping_version, mapping_sha256, records, fields, outcome,
upstream_status, latency_ms): who crossed, how, and which fields with which treatment, never a
value. The sink refuses any other key, so nothing else can be written, adds
``chain``, ``seq``, ``prev`` and ``hash`` (see :mod:`.chain`) and stores
the record before ``append`` returns; if it cannot, it raises
:class:`AuditError` and the request fails (no unrecorded crossing).

Stores (``SHIM_AUDIT_URL``): ``sqlite:///PATH`` (default ``sqlite:///./audit.db``;
a relative PATH, so an absolute one has four slashes: ``sqlite:////var/lib/x.db``;
``?synchronous=full`` to survive machine crashes), ``postgresql://...`` and
``jsonl:///PATH`` (``?fsync=1`` likewise).

``python -m <package>.runtime.audit verify [URL] [--checkpoints FILE]...``
checks every chain (:mod:`.verify`), and with the signed checkpoints
(:mod:`.checkpoint`) also what a hash chain alone cannot show:

* The chains alone show an edited, deleted, duplicated or reordered record in
  the middle of a chain, and a record moved to another chain.
* They cannot show the last records of a chain deleted, a whole chain (or
  per-worker file) deleted, a chain rewritten from some record on with
  recomputed hashes (the hash is not keyed), or a well-chained record appended
  by whoever can write the store. The checkpoints can: each names a chain's seq
  and head hash at a moment, signed with the keyset's audit key, which the
  store never holds. ``verify`` reports a checkpointed record that is gone or
  differs, records after a chain's final (shutdown) checkpoint, a chain that
  no checkpoint names, a missing or unsigned checkpoint, and a gap longer than
  the checkpoint interval.
* Deleting a chain *and* all its checkpoints from the checkpoint file is
  visible only in the other copies: the service log (ship it off the box) and
  the ``shim_audit_checkpoint_seq`` metric. Keep the checkpoint file where the
  shim can append but the audit store's writers cannot delete.

Without checkpoints (none given and none at the default place) ``verify``
checks the chains only and says so.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
from collections.abc import Iterator, Mapping, Sequence
from typing import Any, Final, Protocol

from ..core import command
from ..core.errors import KeysetError
from ..core.keys import load_keyset, public_audit_keys
from . import anchor
from .breaks import Break
from .chain import AuditError
from .jsonl import JsonlSink, jsonl_records
from .sinks import SQLiteSink, sqlite_records
from .verify import Verdict, verify  # re-exported: scripts and tests find them here

__all__ = [
    "DEFAULT_URL",
    "AuditError",
    "AuditSink",
    "Break",
    "Verdict",
    "check_url",
    "default_checkpoints",
    "main",
    "open_sink",
    "read_records",
    "verify",
    "verify_url",
]

DEFAULT_URL = "sqlite:///./audit.db"
_PG_CHECKPOINTS = "./audit-checkpoints.jsonl"
_CMD = command("audit", "audit.trail")  # the command that runs main() below


class AuditSink(Protocol):
    """What the service needs from an audit store."""

    #: True when ``append`` may wait on the network or a disk flush, so the
    #: service should call it in a worker thread rather than on the event loop.
    blocking: bool

    def append(self, event: Mapping[str, Any]) -> None:
        """Chain and store ``event``; durable before it returns; :class:`AuditError` on any failure; thread-safe."""

    def check(self) -> None:
        """Raise :class:`AuditError` when an append would fail now (cheap; for ``/readyz``)."""

    def snapshot(self) -> tuple[str, int, str]:
        """``(chain, seq, hash)`` of the last stored record (seq 0 and 64 zeros before any)."""

    def records(self) -> Iterator[dict[str, Any]]:
        """Every stored record, in storage order, for :func:`verify`."""

    def close(self) -> None:
        """Release the store; later appends raise :class:`AuditError`."""


def _split(url: str) -> tuple[str, str, dict[str, str]]:
    """``(kind, target, options)`` of an audit URL; PostgreSQL URLs stay whole (libpq parses them)."""
    if not isinstance(url, str):
        raise AuditError("the audit URL must be a string")
    if url.startswith(("postgresql://", "postgres://")):
        return "postgresql", url, {}
    for kind in ("sqlite", "jsonl"):
        prefix = f"{kind}:///"
        if url.startswith(prefix):
            path, _, query = url[len(prefix) :].partition("?")
            if not path:
                break
            options: dict[str, str] = {}
            for part in filter(None, query.split("&")):
                name, _, value = part.partition("=")
                options[name] = value
            return kind, path, options
    hint = f"; for that file, sqlite:///{url}" if "://" not in url and url else ""
    raise AuditError(
        f"the audit URL must be sqlite:///PATH, postgresql://... or jsonl:///PATH{hint}"
    )


_BOOL = ("0", "1", "true", "false")
# The query options each file store takes, and their values.
_OPTIONS: dict[str, dict[str, tuple[str, ...]]] = {
    "sqlite": {"synchronous": ("normal", "full", "extra"), "per_worker": _BOOL},
    "jsonl": {"fsync": _BOOL},
}


def _option(options: dict[str, str], kind: str, allowed: dict[str, tuple[str, ...]]) -> None:
    for name, value in options.items():
        if name not in allowed:
            raise AuditError(
                f"unknown {kind} audit URL option {name!r}; known: {', '.join(allowed)}"
            )
        if value.lower() not in allowed[name]:
            raise AuditError(
                f"{kind} audit URL option {name!r} must be one of {', '.join(allowed[name])}"
            )


def open_sink(url: str, instance: str) -> AuditSink:
    """Open the store named by ``url`` for appending records of replica ``instance``.

    A file store that cannot be opened raises :class:`AuditError` at once (the
    shim should not start); a PostgreSQL server that is down does not (the shim
    starts unready and the sink reconnects), a malformed PostgreSQL URL does.
    """
    kind, target, options = _split(url)
    if kind in _OPTIONS:
        _option(options, kind, _OPTIONS[kind])
    if kind == "sqlite":
        return SQLiteSink(
            target,
            instance,
            synchronous=options.get("synchronous", "normal"),
            per_worker=options.get("per_worker", "0").lower() in ("1", "true"),
        )
    if kind == "jsonl":
        return JsonlSink(target, instance, fsync=options.get("fsync", "0").lower() in ("1", "true"))
    from .pg import PostgresSink  # psycopg is imported only when used

    return PostgresSink(target, instance)


def check_url(url: str) -> str | None:
    """Check ``url`` as :func:`open_sink` would, opening and creating nothing.

    For the start-up check, which runs in the parent process before any worker
    opens the store. Returns the file of a file store (None for PostgreSQL).
    """
    kind, target, options = _split(url)
    if kind in _OPTIONS:
        _option(options, kind, _OPTIONS[kind])
        return target
    from .pg import check_url as check_pg_url

    check_pg_url(target)
    return None


def default_checkpoints(url: str) -> str:
    """Where the checkpoints of the store at ``url`` go unless ``SHIM_AUDIT_CHECKPOINTS`` says.

    Beside a file store (``PATH.checkpoints.jsonl``); ``./audit-checkpoints.jsonl``
    for PostgreSQL (each replica has its own unless they share a volume).
    """
    kind, target, _ = _split(url)
    if kind == "postgresql":
        return _PG_CHECKPOINTS
    return f"{target}.checkpoints.jsonl"


def read_records(url: str) -> Iterator[dict[str, Any]]:
    """Every record in the store at ``url``, read without creating or changing anything."""
    kind, target, _ = _split(url)
    if kind == "sqlite":
        return sqlite_records(target)
    if kind == "jsonl":
        return jsonl_records(target)
    from .pg import pg_records

    return pg_records(target)


def verify_url(
    url: str,
    checkpoint_files: Sequence[str] | None = None,
    public_keys: Mapping[str, bytes] | None = None,
    now: float | None = None,
) -> Verdict:
    """Verify the store at ``url`` (and against the checkpoints in ``checkpoint_files``).

    :class:`AuditError` when the store or a checkpoint file cannot be read.
    """
    checkpoints = (
        anchor.read_checkpoints(checkpoint_files) if checkpoint_files is not None else None
    )
    return verify(read_records(url), checkpoints, public_keys, now)


class _NoKeyset(KeysetError):
    """Checkpoints to check, and neither ``--keys`` nor a keyset in the environment."""


def _public_keys(path: str | None) -> dict[str, bytes]:
    """Audit public keys from ``--keys FILE``, else from the keyset the service uses.

    ``SHIM_DEV_KEYS`` is not a keyset here: it makes a fresh one, which verifies no
    checkpoint a shim ever signed (every one would be reported as forged).
    """
    if path is not None:
        try:
            with open(path, encoding="utf-8") as fh:
                text = fh.read()
        except (OSError, UnicodeDecodeError) as exc:
            raise KeysetError(f"cannot read --keys {path}: {exc.__class__.__name__}") from None
        return public_audit_keys(text)
    if not (os.environ.get("SHIM_KEYS") or os.environ.get("SHIM_KEYS_FILE")):
        raise _NoKeyset("no keyset: neither SHIM_KEYS_FILE nor SHIM_KEYS is set")
    keyset = load_keyset({k: v for k, v in os.environ.items() if k != "SHIM_DEV_KEYS"})
    keyset.audit_key  # noqa: B018 - raises the "no audit signing key" error
    return keyset.audit_public_keys()


def _keys_problem(exc: KeysetError, files: Sequence[str]) -> str:
    """What ``verify`` says when the checkpoints' public keys are missing or unusable.

    The trail itself was readable (or not yet read): saying "audit trail unreadable"
    sent operators looking at the store when what was missing was the keyset.
    """
    keys = command("keys", "core.keys")
    why = f"the signed checkpoints ({', '.join(files)}) are checked with the audit public keys"
    if isinstance(exc, _NoKeyset):
        return (
            f"audit keys missing: {exc}, and {why}. Set SHIM_KEYS_FILE to the keyset the shim "
            f"runs with (the file `{keys} new > keys.json` made), or pass --keys FILE with its "
            f"public keys (`{keys} audit-public keys.json > audit-public.json`). "
            "Nothing was checked"
        )
    return f"audit keys unusable: {exc}; {why}. Nothing was checked"


_UNPRINTABLE: Final = re.compile(
    "[\x00-\x1f\x7f-\x9f\u061c\u200b-\u200f\u2028-\u202e\u2060-\u206f\ufeff]"
)  # C0/C1 controls (ESC, CR, BEL), line separators, bidi and invisible format marks


def printable(text: object) -> str:
    """``text`` with every control or bidi character as a visible escape (``\\x1b``).

    Chain ids, seqs and error details come from the store, which whoever can write it
    controls: printed raw, an ESC or CR rewrites the operator's terminal (a "chain OK"
    over a BROKEN line). Every line ``verify`` prints goes through here.
    """
    return _UNPRINTABLE.sub(_escape, str(text))


def _escape(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code <= 0xFF else f"\\u{code:04x}"


def _say(text: object, err: bool = False) -> None:
    print(printable(text), file=sys.stderr if err else sys.stdout)


def main(argv: Sequence[str] | None = None) -> int:
    """``verify [URL] [--checkpoints FILE]... [--chains-only] [--keys FILE] [--heads]``;
    ``anomalies ...``.

    ``anomalies`` is :mod:`.anomalies`'s own command, reached through here so that
    both audit sub-commands share one prog (``<name>-shim audit``) and one entry.

    Exit 0 when every chain holds (and matches its checkpoints), 1 when
    something is broken or tampered with, or when no checkpoints are found (unless
    ``--chains-only``: an emptied store looks like an unused one), 2 when the trail, a
    checkpoint file or the keys cannot be read.
    """
    args_in = list(sys.argv[1:] if argv is None else argv)
    if args_in[:1] == ["anomalies"]:
        from .anomalies import main as anomalies  # it imports this module: not at the top

        return anomalies(args_in[1:])
    parser = argparse.ArgumentParser(
        prog=_CMD, description="Verify the shim's audit trail, or report tracking incidents."
    )
    sub = parser.add_subparsers(dest="command", required=True)
    ver = sub.add_parser("verify", help="check every hash chain in the audit store")
    sub.add_parser(  # run by the branch above; listed here for --help
        "anomalies",
        help="print the heuristic-tracking incidents in the audit store (see anomalies --help)",
    )
    ver.add_argument(
        "url",
        nargs="?",
        metavar="URL",
        help=f"audit store (default: $SHIM_AUDIT_URL, else {DEFAULT_URL})",
    )
    ver.add_argument(
        "--heads",
        action="store_true",
        help="also print each chain's last seq and hash, to compare with copies kept elsewhere",
    )
    ver.add_argument(
        "--checkpoints",
        action="append",
        metavar="FILE",
        help="signed checkpoints: the checkpoint file or a service log (repeatable; default: "
        "$SHIM_AUDIT_CHECKPOINTS, else the store's default checkpoint file if it exists)",
    )
    ver.add_argument(
        "--chains-only",
        action="store_true",
        help="check the hash chains alone when no checkpoints are found (by default that is "
        "exit 1: the chains alone cannot show a rewrite by whoever can write the store)",
    )
    ver.add_argument(
        "--keys",
        metavar="FILE",
        help="audit public keys (from `keys audit-public`) or a keyset "
        "(default: the keyset in $SHIM_KEYS or $SHIM_KEYS_FILE)",
    )
    args = parser.parse_args(args_in)
    url = args.url or os.environ.get("SHIM_AUDIT_URL") or DEFAULT_URL
    try:
        files = args.checkpoints
        if files is None:
            given = os.environ.get("SHIM_AUDIT_CHECKPOINTS") or None
            default = default_checkpoints(url)
            files = [given] if given else [default] if os.path.exists(default) else None
        public = _public_keys(args.keys) if files is not None else None
    except KeysetError as exc:
        _say(_keys_problem(exc, files or []), err=True)
        return 2
    except AuditError as exc:
        _say(f"audit trail unreadable: {exc}", err=True)
        return 2
    try:
        verdict = verify_url(url, files, public)
    except (AuditError, KeysetError) as exc:
        _say(f"audit trail unreadable: {exc}", err=True)
        return 2
    if files is None and verdict.ok and not args.chains_only:
        # Whoever can write the store can usually delete the checkpoint file beside it:
        # a missing file must not turn a rewrite into "OK" (red-team, third pass), nor an
        # emptied store, which cannot be told from an unused one without them (fourth pass).
        held = f"{len(verdict.heads)} chain(s) hold" if verdict.heads else "the store is empty"
        _say(
            f"NOT VERIFIED: {held}, but no signed checkpoints were found "
            f"({default_checkpoints(url)} does not exist, no --checkpoints, no "
            "SHIM_AUDIT_CHECKPOINTS), and the chains alone cannot show deleted chain ends, "
            "deleted chains, rewritten chains or forged appends; pass --checkpoints FILE (the "
            "checkpoint file, or a service log with its audit-checkpoint lines), or "
            "--chains-only to accept the chains alone",
            err=True,
        )
        return 1
    _say(verdict)
    for problem in verdict.problems[0 if verdict.first_bad is not None else 1 :]:
        _say(f"also: {problem}")
    if files is None:
        _say(
            "warning: no checkpoints given, so only the chains were checked: deleted chain "
            "ends, deleted chains, rewritten chains and forged appends cannot be seen; pass "
            "--checkpoints FILE",
            err=True,
        )
    if args.heads:
        for chain, (seq, digest) in sorted(verdict.heads.items()):
            _say(f"head {chain} seq {seq} hash {digest}")
    return 0 if verdict.ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
