"""Fail fast at start-up: a bad configuration stops ``serve`` once, in one line, exit code 2.

The attack (or the accident) is a configuration that makes every worker fail:
uvicorn used to start each worker, print a 40-line traceback and restart it
forever, or stop with exit code 0 so that an orchestrator saw a clean exit.
The control is the start-up check (``runtime/service/startup.py``), run by ``serve``
in the parent before any worker starts, and a guard in each worker that stops
the whole service (exit code 3) instead of a restart loop.

Every case runs the real generated customer package's ``serve`` command in a
subprocess, with 1 and 2 workers at once (a bad value never reaches uvicorn,
so a case takes about a second), and asserts: exit code 2, exactly one line
on stderr, naming the variable, and no trace of the value.
"""

from __future__ import annotations

import base64
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from typer.testing import CliRunner

from shimgen.cli import app as shimgen_app
from tests.service_support import KEYS_FILE, RECORD, ROOT, headers, write_callers

SECRET = "s3cr3t-Vt9qLw"  # planted in values; must never be printed
WORKERS = (1, 2)
TIMEOUT = 60.0  # a case that has not ended by then started a service: it fails


@dataclass(frozen=True)
class Case:
    """One bad configuration: environment changes (None unsets), the variable to name."""

    name: str
    variable: str
    env: dict[str, str | None]
    hidden: tuple[str, ...] = field(default=(SECRET,))


@dataclass
class Run:
    returncode: int
    stdout: str
    stderr: str
    seconds: float


@pytest.fixture(scope="module")
def package(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The customer shim as ``shimgen generate`` writes it today; returns the package root."""
    out = tmp_path_factory.mktemp("generated") / "customer_shim"
    result = CliRunner().invoke(
        shimgen_app, ["generate", str(ROOT / "mappings" / "customer.shim.yaml"), "-o", str(out)]
    )
    assert result.exit_code == 0, result.output
    return out


@pytest.fixture
def base_env(package: Path, tmp_path: Path) -> dict[str, str]:
    """A good configuration: keyset file, callers file, audit URL and upstream URL all set."""
    keys = tmp_path / "keys.json"
    shutil.copy(KEYS_FILE, keys)
    return {
        **{k: v for k, v in os.environ.items() if not k.startswith(("SHIM_", "PROMETHEUS_"))},
        "PYTHONPATH": str(package),
        "SHIM_KEYS_FILE": str(keys),
        "SHIM_CALLERS_FILE": str(write_callers(tmp_path / "callers.yaml")),
        "SHIM_AUDIT_URL": f"sqlite:///{tmp_path / 'audit.db'}",
        "CUSTOMER_UPSTREAM_URL": "http://127.0.0.1:9/",
    }


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _serve(
    env: dict[str, str], workers: int, cwd: Path, port: int | None = None
) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "customer_shim", "serve", "--port", str(port or _free_port()),
         "--workers", str(workers)],
        env=env, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        start_new_session=True,  # its own process group: a stray worker is stopped with it
    )  # fmt: skip


def _stop(proc: subprocess.Popen[str]) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGKILL)


def _finish(proc: subprocess.Popen[str], started: float) -> Run:
    try:
        out, err = proc.communicate(timeout=max(1.0, TIMEOUT - (time.monotonic() - started)))
    except subprocess.TimeoutExpired:
        _stop(proc)
        out, err = proc.communicate()
        return Run(-1, out, err, TIMEOUT)
    return Run(proc.returncode, out, err, time.monotonic() - started)


def _run_cases(
    cases: list[Case], base: dict[str, str], cwd: Path
) -> Iterator[tuple[Case, int, Run]]:
    """Every case with 1 and 2 workers, all at once (they end before uvicorn starts)."""
    started = time.monotonic()
    procs = []
    for case in cases:
        env = dict(base)
        for name, value in case.env.items():
            if value is None:
                env.pop(name, None)
            else:
                env[name] = value
        procs.extend((case, w, _serve(env, w, cwd)) for w in WORKERS)
    try:
        for case, workers, proc in procs:
            yield case, workers, _finish(proc, started)
    finally:
        for _, _, proc in procs:
            _stop(proc)


def _assert_one_line(cases: list[Case], base: dict[str, str], cwd: Path) -> None:
    for case, workers, run in _run_cases(cases, base, cwd):
        where = f"{case.name} with {workers} worker(s)"
        lines = [line for line in run.stderr.splitlines() if line.strip()]
        assert run.returncode == 2, f"{where}: exit {run.returncode}\n{run.stderr[-2000:]}"
        assert len(lines) == 1, f"{where}: {len(lines)} lines on stderr\n{run.stderr[-2000:]}"
        assert case.variable in lines[0], f"{where}: {lines[0]!r} does not name {case.variable}"
        assert "Traceback" not in run.stderr and not run.stdout.strip(), where
        for hidden in case.hidden:
            assert hidden not in run.stderr + run.stdout, f"{where}: the value was printed"


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


# -- keys ---------------------------------------------------------------------------------


def test_missing_keyset_stops_serve_in_one_line(base_env: dict[str, str], tmp_path: Path) -> None:
    missing = str(tmp_path / f"{SECRET}" / "keys.json")
    _assert_one_line(
        [
            Case("no keyset at all", "SHIM_KEYS", {"SHIM_KEYS_FILE": None}),
            Case("keyset file missing", "SHIM_KEYS_FILE", {"SHIM_KEYS_FILE": missing}),
        ],
        base_env,
        tmp_path,
    )


def test_malformed_keyset_stops_serve_in_one_line(base_env: dict[str, str], tmp_path: Path) -> None:
    short = json.dumps({"primary": "k1", "keys": {"k1": _b64(SECRET.encode())}})
    not_json = tmp_path / "keys-broken.json"
    not_json.write_text('{"primary": "k1", "keys": {"k1": "' + _b64(SECRET.encode() * 8), "utf-8")
    hidden = (SECRET, _b64(SECRET.encode()), _b64(SECRET.encode() * 8)[:16])
    _assert_one_line(
        [
            Case("short key", "SHIM_KEYS", {"SHIM_KEYS_FILE": None, "SHIM_KEYS": short}, hidden),
            Case("not JSON", "SHIM_KEYS_FILE", {"SHIM_KEYS_FILE": str(not_json)}, hidden),
            Case(
                "no audit signing key",
                "SHIM_KEYS",
                {
                    "SHIM_KEYS_FILE": None,
                    "SHIM_KEYS": json.dumps({"primary": "k1", "keys": {"k1": _b64(b"k" * 64)}}),
                },
            ),
        ],
        base_env,
        tmp_path,
    )


def test_missing_keyset_message_names_a_command_that_works(
    base_env: dict[str, str], tmp_path: Path
) -> None:
    """The message used to name ``python -m <package>.runtime.keys``; it must run as printed."""
    env = {k: v for k, v in base_env.items() if k != "SHIM_KEYS_FILE"}
    run = _finish(_serve(env, 1, tmp_path), time.monotonic())
    command = re.search(r"`(python -m [^`]+)`", run.stderr)
    assert command is not None, run.stderr
    run_it, _, into = command.group(1).partition(" > ")  # as the README: keys new > keys.json
    argv = run_it.split()
    assert argv[:3] == ["python", "-m", "customer_shim"] and into == "keys.json", argv
    made = subprocess.run(
        [sys.executable, *argv[1:]], env=env, cwd=tmp_path, capture_output=True, text=True
    )
    assert made.returncode == 0, made.stderr
    (tmp_path / into).write_text(made.stdout, encoding="utf-8")
    env["SHIM_KEYS_FILE"] = str(tmp_path / into)
    env["SHIM_AUDIT_URL"] = "sqlite:///./no-such-dir/audit.db"  # stop right after the keys
    again = _finish(_serve(env, 1, tmp_path), time.monotonic())
    assert "SHIM_AUDIT_URL" in again.stderr and "SHIM_KEYS" not in again.stderr, again.stderr


def test_translate_missing_keyset_names_a_command_that_works(tmp_path: Path) -> None:
    """``shimgen translate`` imports a private copy of the package, gone once it ends."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SHIM_")}
    env["PYTHONPATH"] = str(ROOT)  # this tree's shimgen, whatever is installed
    done = subprocess.run(
        [sys.executable, "-m", "shimgen", "translate", str(ROOT / "mappings" / "customer.shim.yaml")],
        input="{}\n", env=env, cwd=tmp_path, capture_output=True, text=True,
    )  # fmt: skip
    command = re.search(r"`(python -m [^`]+)`", done.stderr)
    assert command is not None, done.stderr
    assert "_shimgen_" not in command.group(1)
    run_it, _, into = command.group(1).partition(" > ")  # keys new > keys.json
    assert into == "keys.json", command.group(1)
    made = subprocess.run(
        [sys.executable, *run_it.split()[1:]],
        env=env, cwd=tmp_path, capture_output=True, text=True,
    )  # fmt: skip
    assert made.returncode == 0, made.stderr
    assert set(json.loads(made.stdout)) >= {"primary", "keys"}


# -- callers ------------------------------------------------------------------------------


def test_missing_callers_file_stops_serve_in_one_line(
    base_env: dict[str, str], tmp_path: Path
) -> None:
    missing = {"SHIM_CALLERS_FILE": str(tmp_path / f"{SECRET}.yaml")}
    _assert_one_line(
        [Case("no such file", "SHIM_CALLERS_FILE", dict(missing))],
        base_env,
        tmp_path,
    )


def test_malformed_callers_file_stops_serve_in_one_line(
    base_env: dict[str, str], tmp_path: Path
) -> None:
    files = {
        "not YAML": "callers: [\n",
        "unknown key": f"callers:\n  - name: x\n    groups: [support]\n    password: {SECRET}\n",
        "short JWT secret": (
            "jwt:\n  issuer: https://idp.example/\n  audience: shim\n  algorithms: [HS256]\n"
            "  secret_env: SHIM_JWT_SECRET\n"
        ),
    }
    cases = []
    for name, text in files.items():
        path = tmp_path / f"callers-{len(cases)}.yaml"
        path.write_text(text, encoding="utf-8")
        env: dict[str, str | None] = {"SHIM_CALLERS_FILE": str(path), "SHIM_JWT_SECRET": SECRET}
        cases.append(Case(name, "SHIM_CALLERS_FILE", env))
    _assert_one_line(cases, base_env, tmp_path)


# -- URLs ---------------------------------------------------------------------------------


def test_bad_audit_url_stops_serve_in_one_line(base_env: dict[str, str], tmp_path: Path) -> None:
    urls = {
        "unknown scheme": f"mysql://shim:{SECRET}@db.internal/audit",
        "malformed PostgreSQL URL": f"postgresql://shim:{SECRET}@db.internal/audit?nonsense=1",
        "directory missing": f"sqlite:///{tmp_path / SECRET / 'audit.db'}",
    }
    checkpoints = str(tmp_path / SECRET / "checkpoints.jsonl")
    _assert_one_line(
        [Case(name, "SHIM_AUDIT_URL", {"SHIM_AUDIT_URL": url}) for name, url in urls.items()]
        + [
            Case(
                "checkpoint directory missing",
                "SHIM_AUDIT_CHECKPOINTS",
                {"SHIM_AUDIT_CHECKPOINTS": checkpoints},
            )
        ],
        base_env,
        tmp_path,
    )


def test_bad_upstream_url_stops_serve_in_one_line(base_env: dict[str, str], tmp_path: Path) -> None:
    urls = {
        "not http": f"ftp://shim:{SECRET}@internal.example/",
        "with a query": f"https://internal.example:99999/?token={SECRET}",
    }
    _assert_one_line(
        [Case(n, "CUSTOMER_UPSTREAM_URL", {"CUSTOMER_UPSTREAM_URL": u}) for n, u in urls.items()],
        base_env,
        tmp_path,
    )


# -- limits and the other settings ---------------------------------------------------------


def test_bad_limits_stop_serve_in_one_line(base_env: dict[str, str], tmp_path: Path) -> None:
    values = {
        "SHIM_MAX_BODY_BYTES": "0",
        "SHIM_RATE_LIMIT": "fast7",
        "SHIM_UPSTREAM_TIMEOUT": "-2.5",
    }
    _assert_one_line(
        [Case(f"{var}={value}", var, {var: value}, (value,) if len(value) > 2 else ())
         for var, value in values.items()],
        base_env,
        tmp_path,
    )  # fmt: skip


def test_bad_other_settings_stop_serve_in_one_line(
    base_env: dict[str, str], tmp_path: Path
) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("", encoding="utf-8")
    _assert_one_line(
        [
            Case("log level", "SHIM_LOG_LEVEL", {"SHIM_LOG_LEVEL": f"LOUD{SECRET}"}),
            Case("access log switch", "SHIM_ACCESS_LOG", {"SHIM_ACCESS_LOG": f"quiet{SECRET}"}),
            Case(
                "metrics directory",
                "PROMETHEUS_MULTIPROC_DIR",
                {"PROMETHEUS_MULTIPROC_DIR": str(blocker / SECRET)},
            ),
        ],
        base_env,
        tmp_path,
    )


# -- a good configuration, and a worker that still cannot start ----------------------------


def _get(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return int(response.status)
    except urllib.error.HTTPError as exc:
        return exc.code


def test_good_configuration_serves_with_two_workers(
    base_env: dict[str, str], tmp_path: Path
) -> None:
    port = _free_port()
    proc = _serve(base_env, 2, tmp_path, port)
    try:
        _wait_healthy(proc, port)
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=30)
        assert proc.returncode == 0, err[-2000:]
        # every line is JSON (uvicorn's too, logger "uvicorn.error"); none is an error
        levels = {json.loads(line)["level"] for line in err.splitlines() if line.strip()}
        assert levels <= {"info", "debug"}, err[-2000:]
    finally:
        _stop(proc)


def _wait_healthy(proc: subprocess.Popen[str], port: int) -> None:
    deadline = time.monotonic() + TIMEOUT
    while True:
        try:
            if _get(f"http://127.0.0.1:{port}/healthz") == 200:
                return
        except OSError:
            pass
        assert proc.poll() is None, proc.communicate()[1][-2000:]
        assert time.monotonic() < deadline, "the shim did not answer /healthz"
        time.sleep(0.1)


def test_dev_keys_one_warning_and_one_keyset_for_all_workers(
    base_env: dict[str, str], tmp_path: Path
) -> None:
    """``SHIM_DEV_KEYS=1`` with 2 workers: the warning once, and every worker makes the same token.

    Each worker used to make its own keyset (and print the warning twice): a
    token made by one did not detokenize in the other.
    """
    env = {k: v for k, v in base_env.items() if k != "SHIM_KEYS_FILE"}
    env["SHIM_DEV_KEYS"] = "1"
    port = _free_port()
    proc = _serve(env, 2, tmp_path, port)
    try:
        _wait_healthy(proc, port)
        tokens = set()
        body = json.dumps(RECORD).encode()
        for _ in range(12):  # a new connection each time: both workers take some
            request = urllib.request.Request(
                f"http://127.0.0.1:{port}/v1/outbound", body, headers(), method="POST"
            )
            with urllib.request.urlopen(request, timeout=5) as response:
                tokens.add(json.loads(response.read())["customerId"])
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=30)
        assert err.count("ephemeral development keyset") == 1, err[-3000:]
        assert len(tokens) == 1
    finally:
        _stop(proc)


def test_worker_that_cannot_start_stops_the_service(
    base_env: dict[str, str], tmp_path: Path
) -> None:
    """The check passes (the URL is fine) but the audit file is not a database: exit 3, once."""
    junk = tmp_path / "junk.db"
    junk.write_bytes(b"not a database " * 400)
    env = {**base_env, "SHIM_AUDIT_URL": f"sqlite:///{junk}"}
    started = time.monotonic()
    procs = {w: _serve(env, w, tmp_path) for w in WORKERS}
    try:
        for workers, proc in procs.items():
            run = _finish(proc, started)
            assert run.returncode == 3, f"{workers} worker(s): exit {run.returncode}"
            # Each worker starts once: no restart loop.
            assert run.stderr.count("Waiting for application startup") <= workers, run.stderr
            assert "Traceback" not in run.stderr, run.stderr[-3000:]
    finally:
        for proc in procs.values():
            _stop(proc)
