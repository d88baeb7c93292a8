"""Files as they were at a git revision, through plain ``git`` subprocesses.

``shimgen diff REV:PATH`` and ``shimgen lint --base REV`` both read mappings
from history; running ``git`` itself (no git library) works on any CI
checkout and gives git's own revision syntax.
"""

from __future__ import annotations

import subprocess
from pathlib import Path


class GitError(Exception):
    """git could not be run, or refused (unknown revision, no repository, no such path)."""


def git(cwd: Path, *args: str) -> bytes:
    """``git ARGS`` run in ``cwd``: its stdout, or :class:`GitError` with git's message."""
    try:
        proc = subprocess.run(["git", "-C", str(cwd), *args], capture_output=True, check=False)
    except OSError as exc:
        raise GitError(f"cannot run git: {exc.strerror or exc}") from None
    if proc.returncode != 0:
        raise GitError(proc.stderr.decode("utf-8", "replace").strip() or "git failed")
    return proc.stdout


def toplevel(cwd: Path) -> Path:
    """The root of the work tree holding ``cwd``."""
    return Path(git(cwd, "rev-parse", "--show-toplevel").decode().strip())


def commit_of(repo: Path, rev: str) -> str:
    """The commit ``rev`` names (a branch, tag, ``HEAD~1``...)."""
    return git(repo, "rev-parse", "--verify", "--quiet", f"{rev}^{{commit}}").decode().strip()
