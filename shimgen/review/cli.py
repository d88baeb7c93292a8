"""The body of ``shimgen review``, kept out of ``shimgen/cli.py`` so the CLI stays thin."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import cast

from shimgen.check import check_mapping
from shimgen.review.model import build_report
from shimgen.review.render import Format, render_report

FORMATS = ("md", "html")


def run(mapping: Path, fmt: str, out: Path | None) -> int:
    """Check the mapping, then write its report; returns the exit code.

    A mapping with errors gets no report: its findings are printed as
    ``shimgen check`` prints them (exit 1, or 2 if it cannot be read).
    Warnings are printed too, and they are part of the report.
    """
    if fmt not in FORMATS:
        print(f"error: --format must be md or html, not {fmt!r}", file=sys.stderr)
        return 2
    result = check_mapping(mapping)
    for line in result.lines():
        print(line, file=sys.stderr)
    if result.plan is None:
        return result.exit_code or 1
    text = render_report(build_report(result), cast(Format, fmt))
    if out is None:
        sys.stdout.write(text)
        return 0
    try:
        out.write_text(text, encoding="utf-8")
    except OSError as exc:
        print(f"error: cannot write {out}: {exc.strerror or exc}", file=sys.stderr)
        return 2
    print(f"wrote {out}", file=sys.stderr)
    return 0
