"""Read the base a mapping is compared with (``--base``): a plain file, or a git revision.

A path to an existing file wins (the previous release's mapping kept beside the
new one, or a download: no repository needed); anything else is a revision read
with ``git show REV:PATH`` in the mapping's own repository.
"""

from __future__ import annotations

from pathlib import Path

from shimgen.gitcmd import GitError, commit_of, git, toplevel


class BaseError(Exception):
    """The revision or the repository cannot be read: an input error (exit 2)."""


def read_at(path: Path, rev: str) -> bytes | None:
    """The bytes of the base: the file ``rev`` if it exists, else ``path`` at revision ``rev``
    (None when the mapping did not exist there)."""
    as_file = Path(rev)
    if as_file.is_file():
        try:
            return as_file.read_bytes()
        except OSError as exc:
            raise BaseError(f"--base {rev}: {exc.strerror or exc}") from None
    try:
        root = toplevel(path.resolve().parent)
    except GitError:
        raise BaseError(
            f"--base {rev}: no such file, and {path} is not inside a git repository "
            "(to read a revision)"
        ) from None
    try:
        sha = commit_of(root, rev)
    except GitError:
        raise BaseError(f"--base {rev}: no such revision") from None
    rel = path.resolve().relative_to(root.resolve()).as_posix()
    try:
        return git(root, "show", f"{sha}:{rel}")
    except GitError:
        return None
