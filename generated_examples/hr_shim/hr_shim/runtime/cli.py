"""The generated shim's command line: ``python -m <package> VERB ...``.

Verbs:

``serve [--host 127.0.0.1] [--port 8080] [--workers N]``
    Run the service under uvicorn with the app factory ``<package>.app:create_app``
    (settings come from the environment, see :mod:`.settings`). With more than
    one worker, Prometheus multiprocess mode is switched on (see :mod:`.metrics`).
``audit verify [URL]``
    Check the audit trail's hash chains (URL defaults to ``SHIM_AUDIT_URL``).
``keys new [--id ID]`` / ``keys rotate FILE --id ID``
    Make or rotate a keyset (:mod:`.keys`).
``callers new-key``
    Print a fresh API key and the ``sha256:`` line for the callers file (:mod:`.auth`).

Exit codes: 0 fine, 1 findings (e.g. a broken audit chain), 2 usage errors.
The verbs only delegate, so each module's own CLI stays the single source.
"""

from __future__ import annotations

import argparse
import glob
import os
import sys
import tempfile
from collections.abc import Sequence

__all__ = ["main"]

_LEVELS = ("critical", "error", "warning", "info", "debug")


def main(package: str, argv: Sequence[str] | None = None) -> int:
    """Run one verb for the shim in ``package`` (the generated package's import name)."""
    args = list(sys.argv[1:] if argv is None else argv)
    prog = f"python -m {package}"
    verb = args[0] if args else ""
    rest = args[1:]
    if verb == "keys":
        from . import keys

        return keys.main(rest)
    if verb == "callers":
        from . import auth

        return auth.main(rest)
    if verb == "audit":
        from . import audit

        return audit.main(rest)  # it defaults URL to SHIM_AUDIT_URL itself
    parser = argparse.ArgumentParser(prog=prog, description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="verb", required=True, metavar="VERB")
    serve = sub.add_parser("serve", help="run the service under uvicorn")
    serve.add_argument("--host", default="127.0.0.1", help="interface to bind (default 127.0.0.1)")
    serve.add_argument("--port", type=int, default=8080, help="port (default 8080)")
    serve.add_argument("--workers", type=_positive, default=1, help="worker processes (default 1)")
    sub.add_parser("audit", help="audit verify [URL]: check the audit trail's hash chains")
    sub.add_parser("keys", help="keys new|rotate: make or rotate a keyset")
    sub.add_parser("callers", help="callers new-key: make an API key and its hash line")
    ns = parser.parse_args(args)
    return serve_app(package, ns.host, ns.port, ns.workers)


def _positive(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError("must be a whole number of at least 1")
    return int(text)


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
    """Run uvicorn; returns its exit status (startup failures exit non-zero)."""
    import uvicorn

    prepare_multiprocess_metrics(workers)
    level = (os.environ.get("SHIM_LOG_LEVEL") or "info").strip().lower()
    uvicorn.run(
        f"{package}.app:create_app",
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
        log_level=level if level in _LEVELS else "info",
    )
    return 0
