"""`.ci/postgres.sh`, the script CI runs as `pg_env="$(.ci/postgres.sh)"` before the tests.

A CI run once hung for its whole 90 minutes: the server started by the script inherited the pipe
of the command substitution, so `$(...)` waited for the server to exit. These tests run the
script the same way (stdout captured through a pipe) in a private directory, under a timeout.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import in_ci

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / ".ci" / "postgres.sh"
EXPORT = re.compile(r"^export SHIM_TEST_POSTGRES_URL=postgresql://\S+:\d+/shimtest\n$")


def _can_run() -> bool:
    return os.geteuid() == 0 and any(Path("/usr/lib/postgresql").glob("*/bin/pg_ctl"))


pytestmark = pytest.mark.skipif(
    not _can_run() and not in_ci(),
    reason="needs root and an installed PostgreSQL (CI has both: .ci/postgres.sh installs it)",
)


def _run(pg_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "SHIM_PG_DIR": str(pg_dir)}
    # capture_output reads stdout to EOF: a server holding the pipe makes this time out.
    return subprocess.run(
        ["bash", str(SCRIPT), *args], env=env, capture_output=True, text=True, timeout=120
    )


@pytest.fixture
def pg_dir() -> Iterator[Path]:
    # PostgreSQL's socket path must stay short, and the postgres user must reach the directory.
    path = Path("/tmp") / f"shimgen-pg-test-{os.getpid()}"
    yield path
    _run(path, "stop")
    subprocess.run(["rm", "-rf", str(path)], check=False)


def test_prints_one_export_line_and_returns_while_the_server_runs(pg_dir: Path) -> None:
    first = _run(pg_dir)
    assert first.returncode == 0, first.stderr
    assert EXPORT.match(first.stdout), first.stdout
    assert (pg_dir / "data" / "postmaster.pid").exists()

    again = _run(pg_dir)  # idempotent: same line, server left running
    assert again.returncode == 0, again.stderr
    assert again.stdout == first.stdout


def test_restarts_after_the_server_died_and_left_its_pid_file(pg_dir: Path) -> None:
    first = _run(pg_dir)
    assert first.returncode == 0, first.stderr
    pid_file = pg_dir / "data" / "postmaster.pid"
    pid = int(pid_file.read_text().splitlines()[0])
    os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + 30
    while Path(f"/proc/{pid}").exists() and _state(pid) != "Z" and time.monotonic() < deadline:
        time.sleep(0.05)
    assert pid_file.exists()  # what a killed server (or a machine image taken while it ran) leaves

    again = _run(pg_dir)
    assert again.returncode == 0, again.stderr
    assert again.stdout == first.stdout
    new_pid = int(pid_file.read_text().splitlines()[0])
    assert new_pid != pid
    assert _state(new_pid) not in ("", "Z")


def _stat(pid: int | str) -> list[str]:
    """/proc/PID/stat after the command name (state, ppid, ...); [] for a process that is gone."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return []


def _state(pid: int) -> str:
    return (_stat(pid) or [""])[0]


def test_restarts_when_the_pid_file_names_a_reused_pid(pg_dir: Path) -> None:
    first = _run(pg_dir)
    assert first.returncode == 0, first.stderr
    assert _run(pg_dir, "stop").returncode == 0
    # A live process of the postgres user that is not postgres: the server itself would take the
    # lock file as held by a running postmaster and refuse to start.
    other = subprocess.Popen(["runuser", "-u", "postgres", "--", "sleep", "120"])
    try:
        pid = _child_of(other.pid)
        pid_file = pg_dir / "data" / "postmaster.pid"
        pid_file.write_text(f"{pid}\n{pg_dir / 'data'}\n")
        subprocess.run(["chown", "postgres:", str(pid_file)], check=True)

        again = _run(pg_dir)
        assert again.returncode == 0, again.stderr
        assert again.stdout == first.stdout
        assert int(pid_file.read_text().splitlines()[0]) != pid
    finally:
        other.kill()
        other.wait()


def _child_of(parent: int) -> int:
    """The pid of ``parent``'s child (runuser forks the command it runs)."""
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        for proc in Path("/proc").glob("[0-9]*"):
            fields = _stat(proc.name)
            if fields and int(fields[1]) == parent:
                return int(proc.name)
        time.sleep(0.05)
    raise AssertionError(f"no child of {parent}")
