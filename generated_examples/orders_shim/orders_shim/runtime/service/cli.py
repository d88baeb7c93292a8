"""The generated shim's command line: ``python -m <package> VERB ...``.

Verbs:

``serve [--host 127.0.0.1] [--port 8080] [--workers N]``
    Check the configuration once (:mod:`.startup`), then run the service under
    uvicorn with the package's app factory ``<package>.app:create_app``
    (settings come from the environment, see :mod:`.settings`). With more than
    one worker, Prometheus multiprocess mode is switched on (see :mod:`.metrics`).
``audit verify [URL]``
    Check the audit trail's hash chains (URL defaults to ``SHIM_AUDIT_URL``).
``audit anomalies [URL] [--since 24h]``
    Print the heuristic-tracking incidents in the audit store (:mod:`..audit.anomalies`).
``keys new [--id ID]`` / ``keys rotate FILE --id ID``
    Make or rotate a keyset (:mod:`.keys`).
``callers new-key``
    Print a fresh API key and the ``sha256:`` line for the callers file (:mod:`.auth`).
``access request|approve|deny|revoke|list``
    Elevation grants, through the running shim's endpoints (:mod:`.access_cli`);
    only in a shim with elevated groups.

Exit codes: 0 fine, 1 findings (e.g. a broken audit chain), 2 usage or configuration
errors (``serve`` prints one line naming the variable), 3 the service could not start
although its configuration checked out (e.g. the audit file could not be opened).
The verbs only delegate, so each module's own CLI stays the single source.
"""

from __future__ import annotations

import argparse
import contextlib
import glob
import importlib
import os
import shutil
import signal
import sys
import tempfile
from collections.abc import Sequence
from typing import TYPE_CHECKING

from ..core import invoked_as
from ..core.support import ascii_int

if TYPE_CHECKING:
    from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["main"]


def main(package: str, argv: Sequence[str] | None = None) -> int:
    """Run one verb for the shim in ``package`` (the generated package's import name).

    A reader that goes away (``audit anomalies | head``) ends the command quietly with
    exit 1, as shimgen's own commands do, instead of a BrokenPipeError traceback.
    """
    try:
        code = _main(package, argv)
        sys.stdout.flush()  # inside the try: a pipe's buffer is often written only here
        return code
    except BrokenPipeError:
        # Python's recipe: point stdout at devnull so the interpreter's final flush
        # does not raise again on the way out
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 1


def _main(package: str, argv: Sequence[str] | None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    prog = _prog(package)
    verb = args[0] if args else ""
    rest = args[1:]
    if verb == "keys":
        from ..core import keys

        return keys.main(rest)
    if verb == "callers":
        from . import auth

        return auth.main(rest)
    if verb == "access":
        if not _elevated(package):  # no grant endpoints to call: say so, not "404"
            print(f"{prog}: error: this shim has no elevated groups, so there are no grants "
                  "to request or approve (a group is elevated under the mapping's `elevated:`)",
                  file=sys.stderr)  # fmt: skip
            return 2
        from . import access_cli

        return access_cli.main(rest, prog)
    if verb == "audit":  # verify and anomalies; each defaults URL to SHIM_AUDIT_URL itself
        from ..audit import trail as audit

        return audit.main(rest)
    parser = argparse.ArgumentParser(
        prog=prog,
        description="The shim's command line: serve it, check its audit trail, make keys.",
    )
    sub = parser.add_subparsers(dest="verb", required=True, metavar="VERB")
    serve = sub.add_parser("serve", help="run the service under uvicorn")
    serve.add_argument("--host", default="127.0.0.1", help="interface to bind (default 127.0.0.1)")
    serve.add_argument("--port", type=int, default=8080, help="port (default 8080)")
    serve.add_argument("--workers", type=_positive, default=1, help="worker processes (default 1)")
    sub.add_parser(
        "audit",
        help="audit verify [URL]: check the audit trail's hash chains; audit anomalies [URL] "
        "[--since 24h]: print tracking incidents",
    )
    sub.add_parser("keys", help="keys new|rotate|audit-key|audit-public: make or rotate a keyset")
    sub.add_parser("callers", help="callers new-key: make an API key and its hash line")
    if _elevated(package):
        sub.add_parser("access", help="access request|approve|deny|revoke|list: elevation grants")
    ns = parser.parse_args(args)
    return serve_app(package, ns.host, ns.port, ns.workers)


def _elevated(package: str) -> bool:
    """Whether the shim has elevated groups (and so the grant endpoints ``access`` calls)."""
    return bool(importlib.import_module(f"{package}.app").SPEC.elevated)


def _prog(package: str) -> str:
    """The command as the operator typed it: ``<name>-shim`` (the script) or ``python -m <package>``."""
    return invoked_as(package)


def _positive(text: str) -> int:
    number = ascii_int(text)  # ASCII digits only: "٣".isdigit() is True and int() reads 3
    if number is None or number < 1:
        raise argparse.ArgumentTypeError("must be a whole number of at least 1")
    return number


def prepare_multiprocess_metrics(workers: int) -> str | None:
    """Set up ``PROMETHEUS_MULTIPROC_DIR`` before any worker imports prometheus-client.

    A directory given by the operator is emptied of the previous run's sample
    files (stale files would add old counts); with several workers and no
    directory given, a fresh temporary one is made. Returns the directory.
    """
    directory = os.environ.get("PROMETHEUS_MULTIPROC_DIR") or None
    if directory is not None:
        os.makedirs(directory, exist_ok=True)
        for stale in glob.glob(os.path.join(directory, "*.db")):
            os.remove(stale)
    elif workers > 1:
        directory = tempfile.mkdtemp(prefix="shim-metrics-")
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = directory
    return directory


def serve_app(package: str, host: str, port: int, workers: int) -> int:
    """Check the configuration, then run uvicorn; returns the exit status.

    0 after a normal stop; 2 if the configuration is bad (one line naming the
    variable, before any worker starts); 3 if the service could not start all
    the same (a worker failed at start: the other workers are stopped rather
    than restarted, see :func:`worker_app`).
    """
    prog = _prog(package)
    try:
        prepare_multiprocess_metrics(workers)
    except OSError as exc:
        print(f"{prog}: error: PROMETHEUS_MULTIPROC_DIR: cannot use the directory: "
              f"{exc.strerror or 'not usable'}", file=sys.stderr)  # fmt: skip
        return 2
    # Imported only now: prometheus-client reads PROMETHEUS_MULTIPROC_DIR when it is imported.
    from .elevation import beyond_groups
    from .startup import StartupError, check

    spec = importlib.import_module(f"{package}.app").SPEC
    try:
        checked = check(spec.groups, spec.upstream_env, beyond=beyond_groups(spec.elevated))
    except StartupError as exc:
        print(f"{prog}: error: {exc}", file=sys.stderr)
        return 2
    if checked.dev:
        # The workers get the one ephemeral keyset made (and announced) here: each making its
        # own would repeat the warning, and a token made by one would not detokenize in another.
        os.environ["SHIM_KEYS"] = checked.keyset.to_json()
    import uvicorn

    from .http_head import BoundedHead, uvicorn_log_config

    marks = tempfile.mkdtemp(prefix="shim-start-")
    mark = os.environ[_FAILED_ENV] = os.path.join(marks, "failed")
    os.environ[_PARENT_ENV] = str(os.getpid()) if workers > 1 else ""
    try:
        uvicorn.run(
            f"{package}.runtime.service.cli:worker_app",
            factory=True,
            host=host,
            port=port,
            workers=workers,
            lifespan="on",
            access_log=False,  # it would log concrete paths, which carry tokens; see .logs
            # Callers are known by credentials, never by address, and the recorder batches audit
            # writes by TCP connection (scope["client"]), which X-Forwarded-For would overwrite.
            proxy_headers=False,
            server_header=False,
            log_level=checked.settings.log_level.lower(),
            http=BoundedHead,  # a request's head is bounded, as its body is (.http_head)
            log_config=uvicorn_log_config(checked.settings.log_level),  # JSON lines, like ours
        )
        status = 0
    except SystemExit as exc:  # uvicorn exits 3 when the single server fails to start
        status = exc.code if isinstance(exc.code, int) else 1
    finally:
        failed = os.path.exists(mark)
        shutil.rmtree(marks, ignore_errors=True)
        os.environ.pop(_FAILED_ENV, None)
        os.environ.pop(_PARENT_ENV, None)
    if failed and workers > 1:
        print(f"{prog}: error: a worker could not start (its reason is logged above); "
              "all workers were stopped", file=sys.stderr)  # fmt: skip
        return _STARTUP_FAILURE
    return status


# -- the worker side ----------------------------------------------------------------------

_FAILED_ENV = "SHIM_INTERNAL_START_FAILED"  # a file a worker creates when it cannot start
_PARENT_ENV = "SHIM_INTERNAL_SUPERVISOR"  # pid of the supervising parent (several workers)
_STARTUP_FAILURE = 3  # uvicorn's and gunicorn's exit code for "the server could not start"


def worker_app() -> ASGIApp:
    """uvicorn's app factory under ``serve``: the package's ``create_app``, guarded at start.

    The parent checked the configuration, so a worker that still cannot start
    (the callers file changed since, the audit file cannot be opened) fails
    for a reason that restarting it will not fix. It logs one line, leaves a
    mark for the parent (which then exits 3) and asks the parent to stop
    (SIGTERM), instead of being restarted in a loop, as some uvicorn versions do.
    """
    package = (__package__ or "").rsplit(".", 2)[0]  # <package>.runtime.service -> <package>
    try:
        app = importlib.import_module(f"{package}.app").create_app()
    except Exception as exc:
        sys.stderr.write(f"python -m {package}: error: cannot start: {exc}\n")
        _start_failed()
        raise SystemExit(_STARTUP_FAILURE) from None
    from . import http_head  # the protocol serve runs: its sweeper reads the bound each pass

    http_head.MESSAGE_SECONDS = app.state.shim.settings.request_timeout
    return _Guarded(app)


def _start_failed() -> None:
    """Mark the failed start for the parent and ask it to stop the other workers."""
    mark = os.environ.get(_FAILED_ENV)
    if mark:
        with contextlib.suppress(OSError):
            open(mark, "a").close()
    parent = ascii_int(os.environ.get(_PARENT_ENV))  # "²".isdigit() is True; int() raises
    if parent is not None and parent == os.getppid():
        with contextlib.suppress(OSError):
            os.kill(parent, signal.SIGTERM)


class _Guarded:
    """The app, with a failed lifespan start-up reported in one line, not a traceback.

    The shim's lifespan logs the reason (one JSON line) before it fails;
    Starlette would then hand uvicorn the whole traceback to print as well.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "lifespan":
            await self.app(scope, receive, send)
            return

        async def send_lifespan(message: Message) -> None:
            if message["type"] == "lifespan.startup.failed":
                _start_failed()
                message = {"type": "lifespan.startup.failed", "message": ""}
            await send(message)

        await self.app(scope, receive, send_lifespan)
