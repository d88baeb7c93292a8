"""Read a mapping as it was at a git revision (for ``--base REV``)."""

from __future__ import annotations

from pathlib import Path

from shimgen.gitcmd import GitError, commit_of, git, toplevel


class BaseError(Exception):
    """The revision or the repository cannot be read: an input error (exit 2)."""


def read_at(path: Path, rev: str) -> bytes | None:
    """The bytes of ``path`` at ``rev``; None when the file did not exist there."""
    try:
        root = toplevel(path.resolve().parent)
    except GitError:
        raise BaseError(f"--base {rev}: {path} is not inside a git repository") from None
    try:
        sha = commit_of(root, rev)
    except GitError:
        raise BaseError(f"--base {rev}: no such revision") from None
    rel = path.resolve().relative_to(root.resolve()).as_posix()
    try:
        return git(root, "show", f"{sha}:{rel}")
    except GitError:
        return None
