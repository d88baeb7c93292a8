"""Read one side of a diff: a file path, or ``REV:PATH`` read from git.

The checker needs the mapping *and* the schema files it names (which may
``$ref`` further files), all as they were at that revision. So the files are
materialised into a temporary directory with ``git archive``: first the
smallest directory holding the mapping and its two schema files; if the
check then fails (a ``$ref`` reaching further out), the whole tree. The
plan lives in memory, so the directory is gone before the diff is made.
Findings are reported against ``REV:PATH`` names, not the temporary path.
"""

from __future__ import annotations

import dataclasses
import io
import os
import posixpath
import tarfile
import tempfile
from pathlib import Path

from shimgen.check import CheckResult, check_mapping
from shimgen.diagnostics import Finding
from shimgen.gitcmd import GitError, commit_of, git, toplevel
from shimgen.mapping.yamlpos import YamlError, load_yaml


class SourceError(Exception):
    """A side that cannot be read at all (exit 2)."""


@dataclasses.dataclass(frozen=True)
class GitPath:
    repo: Path
    rev: str  # as written
    commit: str
    path: str  # relative to the repository root, POSIX separators


def check_side(spec: str, cwd: Path | None = None) -> CheckResult:
    """Check ``spec`` (a path, or ``REV:PATH``); raises :class:`SourceError`."""
    local = Path(spec) if cwd is None else cwd / spec
    if local.exists() or ":" not in spec:
        return check_mapping(local)
    cwd = cwd or Path.cwd()
    where = parse_git_spec(spec, cwd)
    subtree = _subtree(where)
    result = _check_at(where, subtree)
    if result.plan is None and subtree:
        result = _check_at(where, "")
    return result


def _git(repo: Path, *args: str) -> bytes:
    try:
        return git(repo, *args)
    except GitError as exc:
        raise SourceError(str(exc)) from None


def parse_git_spec(spec: str, cwd: Path) -> GitPath:
    """``REV:PATH`` -> repository, commit and root-relative path (``REV:./p`` is cwd-relative)."""
    rev, _, path = spec.partition(":")
    if not rev or not path:
        raise SourceError(f"`{spec}`: write a file path or REV:PATH, e.g. HEAD~1:mappings/x.yaml")
    try:
        top = toplevel(cwd)
    except (GitError, OSError) as exc:
        raise SourceError(f"`{spec}`: not inside a git repository ({exc})") from None
    if path.startswith(("./", "../")) or path in (".", ".."):
        prefix = _git(cwd, "rev-parse", "--show-prefix").decode().strip()
        path = posixpath.normpath(posixpath.join(prefix, path))
    path = path.strip("/")
    if path.startswith("../"):
        raise SourceError(f"`{spec}`: the path leaves the repository")
    try:
        sha = commit_of(top, rev)
    except GitError:
        raise SourceError(f"`{spec}`: unknown revision `{rev}`") from None
    try:
        _git(top, "cat-file", "-e", f"{sha}:{path}")
    except SourceError:
        raise SourceError(f"`{spec}`: `{path}` does not exist at `{rev}`") from None
    return GitPath(top, rev, sha, path)


def _subtree(where: GitPath) -> str:
    """The smallest directory holding the mapping and the schema files it names."""
    home = posixpath.dirname(where.path)
    dirs = [home]
    try:
        data = load_yaml(_git(where.repo, "show", f"{where.commit}:{where.path}").decode("utf-8"))
    except (SourceError, YamlError, UnicodeDecodeError):
        data = None
    if isinstance(data, dict):
        for side in ("internal", "external"):
            ref = data.get(side)
            if isinstance(ref, dict) and isinstance(ref.get("schema"), str):
                target = posixpath.normpath(posixpath.join(home, ref["schema"]))
                dirs.append(posixpath.dirname(target))
    if any(d == ".." or d.startswith("../") for d in dirs):
        return ""
    common = posixpath.commonpath([d or "." for d in dirs])
    return "" if common == "." else common


def _check_at(where: GitPath, subtree: str) -> CheckResult:
    pathspec = ["--", subtree] if subtree else []
    archive = _git(where.repo, "archive", "--format=tar", where.commit, *pathspec)
    with tempfile.TemporaryDirectory(prefix="shimgen-diff-") as tmp:
        root = Path(tmp)
        with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
            tar.extractall(root, filter="data")
        result = check_mapping(root / where.path)
        result = dataclasses.replace(
            result, findings=[_relabel(f, root, where) for f in result.findings]
        )
    result.loaded.path = Path(f"{where.rev}:{where.path}")
    return result


def _relabel(finding: Finding, root: Path, where: GitPath) -> Finding:
    """Name files as ``REV:path`` instead of the temporary directory they were read from."""
    try:
        rel = Path(os.path.relpath(finding.file, root)).as_posix()
    except ValueError:
        return finding
    if rel.startswith(".."):
        return finding
    return dataclasses.replace(finding, file=Path(f"{where.rev}:{rel}"))
