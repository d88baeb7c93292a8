"""``shimgen review``: the security review report of a mapping.

Reviewers approve mapping files without reading code. This package turns a
checked mapping into a report that says what leaves the internal domain, in
which form and for which functional group: :mod:`.model` builds the report
data from the checker's plan, :mod:`.render` lays it out as Markdown or as a
self-contained HTML page.
"""

from __future__ import annotations

from shimgen.check import CheckResult
from shimgen.review.model import NO_GROUP, Report, build_report
from shimgen.review.render import Format, render_report

__all__ = ["NO_GROUP", "Format", "Report", "build_report", "render_report", "review"]


def review(result: CheckResult, fmt: Format = "md") -> str:
    """The report text of a mapping that checked without errors."""
    return render_report(build_report(result), fmt)
