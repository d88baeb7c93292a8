"""Lay the review model out as Markdown or as one self-contained HTML file.

Mapping text (descriptions, ``why:``, group descriptions, map values) is
untrusted: a mapping under review may be hostile. HTML is autoescaped by
Jinja2; Markdown goes through :func:`md_text` and :func:`md_code`, which
escape everything that could break a table or inject HTML on a code-hosting
site. The HTML report carries its CSS inline and fetches nothing.
"""

from __future__ import annotations

import functools
import re
from typing import Literal

import jinja2

from shimgen.paths import TEMPLATES_DIR
from shimgen.review.model import Report

Format = Literal["md", "html"]

# ASCII punctuation with a meaning in GitHub-flavoured Markdown inline text.
_MD_SPECIAL = re.compile(r"([\\`*_\[\]<>|~&])")


def md_text(value: object) -> str:
    """Inline prose for Markdown (and table cells): one line, every special character escaped."""
    text = " ".join(str(value).split())
    return _MD_SPECIAL.sub(r"\\\1", text)


def md_code(value: object) -> str:
    """An inline code span safe inside a table cell, whatever backticks or pipes it holds."""
    text = " ".join(str(value).split())
    if not text:
        return ""
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    fence = "`" * (longest + 1)
    if text.startswith("`") or text.endswith("`"):
        text = f" {text} "
    # GFM splits table cells on unescaped pipes before it parses code spans.
    return fence + text.replace("|", "\\|") + fence


@functools.cache
def environment() -> jinja2.Environment:
    """Autoescaping on for ``*.html.j2``; Markdown escapes through its filters.

    One environment per process: templates are parsed once, not on every render.
    """
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES_DIR),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
        autoescape=lambda name: name is not None and name.endswith(".html.j2"),
    )
    env.filters["md"] = md_text
    env.filters["code"] = md_code
    return env


def render_report(report: Report, fmt: Format) -> str:
    template = {"md": "review/report.md.j2", "html": "review/report.html.j2"}[fmt]
    return environment().get_template(template).render(r=report)
