"""``shimgen diff OLD NEW``: what changed between two mappings, loosening first.

Each side is a file path or ``REV:PATH`` read from git. Both sides are
checked and compared as resolved plans; every change is classified as
loosened, tightened or neutral (see ``docs/diff.md``). Exit 0: nothing
loosened, or the version was bumped; 1: loosened without a bump; 2: a side
could not be read or does not check.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TextIO

from shimgen.check import CheckResult
from shimgen.diagnostics import one_line
from shimgen.diff.compare import compare
from shimgen.diff.model import Change, DiffResult, Kind
from shimgen.diff.render import to_markdown, to_text
from shimgen.diff.side import Side
from shimgen.diff.source import SourceError, check_side

__all__ = ["Change", "DiffResult", "Kind", "diff_specs", "run"]

FORMATS = {"text": to_text, "md": to_markdown}


class DiffInputError(Exception):
    """A side that cannot be read or does not check; the message says why (exit 2)."""


def _side(spec: str, cwd: Path | None) -> Side:
    try:
        result: CheckResult = check_side(spec, cwd)
    except SourceError as exc:
        raise DiffInputError(one_line(f"error: {exc}")) from None
    if result.plan is None:
        errors = "\n".join(result.lines())
        raise DiffInputError(f"{errors}\nerror: `{spec}` does not check; fix it to diff it")
    return Side(spec, result.plan, result.loaded)


def diff_specs(old: str, new: str, cwd: Path | None = None) -> DiffResult:
    """Check both sides and compare them; raises :class:`DiffInputError`."""
    return compare(_side(old, cwd), _side(new, cwd))


def run(
    old: str, new: str, fmt: str = "text", out: Path | None = None, err: TextIO | None = None
) -> int:
    """The ``shimgen diff`` command: render, write, and return the exit code."""
    err = err or sys.stderr
    if fmt not in FORMATS:
        err.write(f"error: unknown format `{fmt}`; use one of {', '.join(FORMATS)}\n")
        return 2
    try:
        result = diff_specs(old, new)
    except DiffInputError as exc:
        err.write(f"{exc}\n")
        return 2
    text = FORMATS[fmt](result)
    if out is None:
        sys.stdout.write(text)
    else:
        try:
            out.write_text(text, encoding="utf-8")
        except OSError as exc:
            err.write(f"error: cannot write {out}: {exc.strerror or exc}\n")
            return 2
        err.write(f"wrote {out}: {result.verdict()}\n")
    return result.exit_code
