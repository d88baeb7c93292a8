"""Read a mapping as it was at a git revision (for ``--base REV``).

Only plain ``git`` subprocesses, run in the mapping's own repository, so the
rule works on any CI checkout without a git library.
"""

from __future__ import annotations

import subprocess
from pathlib import Path


class BaseError(Exception):
    """The revision or the repository cannot be read: an input error (exit 2)."""


def _git(cwd: Path, *args: str) -> subprocess.CompletedProcess[bytes]:
    try:
        return subprocess.run(["git", *args], cwd=cwd, capture_output=True, check=False)
    except OSError as exc:
        raise BaseError(f"cannot run git: {exc.strerror or exc}") from None


def read_at(path: Path, rev: str) -> bytes | None:
    """The bytes of ``path`` at ``rev``; None when the file did not exist there."""
    folder = path.resolve().parent
    top = _git(folder, "rev-parse", "--show-toplevel")
    if top.returncode != 0:
        raise BaseError(f"--base {rev}: {path} is not inside a git repository")
    root = Path(top.stdout.decode().strip())
    if _git(root, "rev-parse", "--verify", "--quiet", f"{rev}^{{commit}}").returncode != 0:
        raise BaseError(f"--base {rev}: no such revision")
    rel = path.resolve().relative_to(root.resolve()).as_posix()
    shown = _git(root, "show", f"{rev}:{rel}")
    return shown.stdout if shown.returncode == 0 else None
