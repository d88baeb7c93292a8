"""``shimgen verify``: is a generated shim still what its reviewed inputs produce?

Two different failures, reported apart because they call for different fixes:

* **tampered**: a generated file no longer has the hash ``SHIM.lock.json``
  recorded when it was written (edited, deleted or added by hand). The fix is
  to move the change into the mapping or the generator, never into the copy.
* **stale**: the inputs named in the lock (mapping, schemas and the files
  they ``$ref``) or the generator changed since generation, so regenerating
  now gives other files. The fix is ``shimgen generate`` again.

Regeneration happens into a temporary directory, from the inputs the lock
names, exactly as ``shimgen generate`` would write them. An edited file is shown
as a unified diff against that regeneration (as ``sqlc diff`` does), cut after
:data:`MAX_DIFF_LINES` lines. A stale shim whose inputs did not change names the
part of the toolchain that did (the lock records shimgen's version, the runtime's
and the formatting and model tools'; ``shimgen.render.toolchain``), e.g.
``runtime 0.2.0 in the lock, 0.3.0 now``.
"""

from __future__ import annotations

import difflib
import hashlib
import json
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from shimgen import __version__
from shimgen.check import check_mapping
from shimgen.render.generate import project_root, write_package
from shimgen.render.toolchain import changes, toolchain

LOCK = "SHIM.lock.json"
IGNORED_PARTS = frozenset(
    {"__pycache__", ".pytest_cache", ".hypothesis", ".mypy_cache", ".ruff_cache"}
)
"""Directories that running a generated package leaves behind, at any depth; never part of the shim."""
BUILD_ARTEFACTS = frozenset({"build", "dist", ".venv", "venv", ".tox", ".nox"})
"""Top-level folders that building, installing or testing the shim creates (``pip install``
with setuptools writes ``build/`` and ``*.egg-info/``; older shims used it). Only at the top:
a ``build/`` inside the package would be shipped with it, so there it still counts as added."""
MAX_DIFF_LINES = 40
"""Lines of unified diff shown per edited file; the rest are counted, not printed."""
VERSION_FIELDS = ("generator", "toolchain")
"""Lock fields that say what generated the files, not what was generated: when only these
differ and every file is the same, the shim is in sync (a new formatter that changes nothing)."""


class VerifyError(Exception):
    """The shim cannot be verified at all (no lock, unreadable lock, inputs missing): exit 2."""


@dataclass
class Verdict:
    directory: Path
    mapping: str  # as the lock names it
    generator: str  # as the lock names it
    edited: list[str] = field(default_factory=list)  # tampered: hash differs from the lock
    missing: list[str] = field(default_factory=list)  # tampered: listed in the lock, gone
    added: list[str] = field(default_factory=list)  # tampered: on disk, not in the lock
    changed_inputs: list[str] = field(default_factory=list)  # stale: input hash differs
    regenerated: list[str] = field(default_factory=list)  # stale: files regeneration changes
    check_errors: list[str] = field(default_factory=list)  # stale: inputs no longer check
    ignored: list[str] = field(default_factory=list)  # top-level build artefacts, not compared
    toolchain: list[str] = field(default_factory=list)  # "ruff 0.9 in the lock, 0.10 now"
    diffs: dict[str, list[str]] = field(default_factory=dict)  # edited file -> its unified diff

    @property
    def tampered(self) -> bool:
        return bool(self.edited or self.missing or self.added)

    @property
    def stale(self) -> bool:
        return bool(self.changed_inputs or self.regenerated or self.check_errors)

    @property
    def ok(self) -> bool:
        return not (self.tampered or self.stale)

    def lines(self) -> Iterator[str]:
        """The report, one line at a time (what the CLI prints)."""
        where = self.directory
        if self.ok:
            yield f"{where}: ok, in sync with {self.mapping} ({self.generator})"
            if self.ignored:
                yield f"  ignored build artefacts (not generated): {', '.join(self.ignored)}"
            yield from (f"  same files, other toolchain: {line}" for line in self.toolchain)
            return
        if self.tampered:
            n = len(self.edited) + len(self.missing) + len(self.added)
            yield f"{where}: tampered: {n} generated file(s) changed by hand since generation"
            for name in self.edited:
                yield f"  edited   {name}"
                yield from (f"    {line}" for line in self.diffs.get(name, []))
            yield from (f"  deleted  {name}" for name in self.missing)
            yield from (f"  added    {name}" for name in self.added)
            yield (
                "  fix: put the change in the mapping (or in shimgen), then regenerate; "
                "generated files are never edited"
            )
        if self.stale:
            yield f"{where}: stale: regenerating from {self.mapping} gives other files"
            yield from (f"  input changed  {name}" for name in self.changed_inputs)
            yield from (f"  input error    {line}" for line in self.check_errors)
            yield from (f"  toolchain      {line}" for line in self.toolchain)
            if any("/runtime/" in name for name in self.regenerated) and not any(
                line.startswith("runtime ") for line in self.toolchain
            ):
                yield "  runtime files differ under the same runtime version (it was not raised)"
            elif not (self.changed_inputs or self.check_errors or self.toolchain):
                yield (
                    f"  inputs and toolchain unchanged: shimgen {__version__} itself "
                    "writes other files (its templates changed)"
                )
            yield from (f"  would change   {name}" for name in self.regenerated)
            yield f"  fix: shimgen generate {self.mapping} -o {where}"


def find_root(directory: Path, lock: dict[str, Any]) -> Path:
    """Where ``generate`` stood for the lock's relative paths, seen from where the user stands.

    ``generate`` records paths relative to the project of the mapping (the nearest folder
    above it with pyproject.toml or .git; outside any project, the mapping's folder). Verify
    is run from that project, from the folder that ran generate (often the same, outside a
    project), or from inside the shim: candidates in that order, and the first holding the
    recorded mapping wins. Never "the one whose hash still matches": a changed mapping must
    be reported stale, not swapped for an unchanged copy elsewhere.
    """
    mapping = str(lock["mapping"]["path"])
    here = directory.resolve()
    candidates = list(dict.fromkeys([project_root(here), Path.cwd().resolve(), *here.parents]))
    for candidate in candidates:
        if (candidate / mapping).is_file():
            return candidate
    looked = ", ".join(str(c) for c in candidates[:4]) + (", ..." if len(candidates) > 4 else "")
    raise VerifyError(
        f"{directory}/{LOCK} names mapping {mapping}, not found under {looked}; "
        "run verify from the folder that ran generate, or pass --root"
    )


def verify(directory: Path, root: Path | None = None) -> Verdict:
    """Compare ``directory`` with its lock, and the lock with a fresh generation.

    ``root`` is what the lock's paths are relative to: by default found by
    :func:`find_root`.
    """
    lock = _read_lock(directory)
    root = root or find_root(directory, lock)
    mapping = str(lock["mapping"]["path"])
    verdict = Verdict(directory, mapping, str(lock.get("generator", "shimgen ?")))
    verdict.toolchain = changes(_versions(lock), {"shimgen": __version__, **toolchain()})
    recorded: dict[str, str] = lock["files"]

    verdict.ignored = sorted(
        f"{p.name}/" for p in directory.iterdir() if p.is_dir() and _is_build_artefact(p.name)
    )
    on_disk = dict(_hashes(directory))
    verdict.edited = sorted(n for n in recorded if n in on_disk and on_disk[n] != recorded[n])
    verdict.missing = sorted(n for n in recorded if n not in on_disk)
    verdict.added = sorted(n for n in on_disk if n not in recorded and n != LOCK)

    inputs: dict[str, str] = lock.get("inputs") or {mapping: lock["mapping"]["sha256"]}
    for name, digest in inputs.items():
        path = root / name
        if not path.is_file():
            raise VerifyError(
                f"{directory}/{LOCK} names input {name}, which is not at {path}; "
                "run verify from the project that generated the shim, or pass --root"
            )
        if _sha256(path.read_bytes()) != digest:
            verdict.changed_inputs.append(name)

    result = check_mapping(root / mapping)
    if result.plan is None:
        verdict.check_errors = [f.format().splitlines()[0] for f in result.findings]
        return verdict
    with tempfile.TemporaryDirectory(prefix="shimgen-verify-") as tmp:
        fresh_dir = Path(tmp) / directory.name
        write_package(result.plan, fresh_dir)
        fresh = dict(_hashes(fresh_dir))
        verdict.diffs = {name: _diff(name, fresh_dir, directory) for name in verdict.edited}
        fresh_lock = json.loads((fresh_dir / LOCK).read_text(encoding="utf-8"))
    fresh_files = {n: h for n, h in fresh.items() if n != LOCK}
    verdict.regenerated = sorted(
        set(fresh_files) ^ set(recorded)
        | {n for n in fresh_files if n in recorded and fresh_files[n] != recorded[n]}
    )
    if not verdict.stale and _without_versions(fresh_lock) != _without_versions(lock):
        verdict.edited.append(LOCK)  # same inputs and files, yet another lock: edited by hand
    return verdict


def _versions(lock: dict[str, Any]) -> dict[str, str]:
    """What the lock says generated the files; a lock older than the toolchain field has none."""
    generator = str(lock.get("generator", "shimgen ?")).removeprefix("shimgen ")
    recorded = lock.get("toolchain")
    return {"shimgen": generator, **(recorded if isinstance(recorded, dict) else {})}


def _without_versions(lock: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in lock.items() if key not in VERSION_FIELDS}


def _diff(name: str, fresh_dir: Path, directory: Path) -> list[str]:
    """The edit as a unified diff from the regenerated file to the one on disk, cut to length."""
    generated = _text_lines(fresh_dir / name)
    lines = [
        line.rstrip("\n")
        for line in difflib.unified_diff(
            generated, _text_lines(directory / name), f"{name} (generated)", f"{name} (on disk)"
        )
    ]
    if len(lines) > MAX_DIFF_LINES:
        rest = len(lines) - MAX_DIFF_LINES
        lines = [*lines[:MAX_DIFF_LINES], f"... {rest} more diff line(s) not shown"]
    return lines


def _text_lines(path: Path) -> list[str]:
    """A file's lines for a diff; a file regeneration no longer writes reads as empty."""
    try:
        return path.read_bytes().decode("utf-8", "replace").splitlines(keepends=True)
    except FileNotFoundError:
        return []


def _read_lock(directory: Path) -> dict[str, Any]:
    path = directory / LOCK
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise VerifyError(f"{path} not found: {directory} is not a generated shim") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise VerifyError(f"{path} cannot be read: {exc}") from None
    try:
        if not isinstance(data["files"], dict) or not isinstance(data["mapping"]["path"], str):
            raise TypeError
    except (KeyError, TypeError):
        raise VerifyError(f"{path} is not a shimgen lock file (no mapping path or files)") from None
    return data  # type: ignore[no-any-return]


def _is_build_artefact(top: str) -> bool:
    return top in BUILD_ARTEFACTS or top.endswith(".egg-info")


def _hashes(directory: Path) -> Iterator[tuple[str, str]]:
    for path in sorted(directory.rglob("*")):
        rel = path.relative_to(directory)
        if (
            path.is_file()
            and not IGNORED_PARTS & set(rel.parts)
            and not (len(rel.parts) > 1 and _is_build_artefact(rel.parts[0]))
            and path.suffix != ".pyc"
        ):
            yield rel.as_posix(), _sha256(path.read_bytes())


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()
