"""The review report as Markdown and HTML: complete, well-formed, escaped, self-contained."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from shimgen.check import check_mapping
from shimgen.review import build_report, review
from shimgen.review.render import md_code, md_text
from tests.expected import EXAMPLES
from tests.review_support import HOSTILE, example, hostile_mapping, markdown_tables, table_cells


@pytest.mark.parametrize("name", EXAMPLES)
def test_markdown_lists_every_field_in_well_formed_tables(name: str) -> None:
    result = example(name)
    text = review(result, "md")
    report = build_report(result)
    for row in report.fields:
        assert f"| {md_code(row.internal)} |" in text, row.internal
    for cell in (c for row in report.fields for c in row.cells if c.external):
        assert md_code(cell.external) in text
    for d in report.derived:
        assert md_code(d.external) in text
    assert report.mapping_sha256 in text
    assert report.internal.sha256 in text and report.external.sha256 in text
    tables = markdown_tables(text)
    assert len(tables) >= 6
    for table in tables:
        width = table_cells(table[0])
        assert re.fullmatch(r"\|(---\|)+", table[1]), table[1]
        for line in table:
            assert line.endswith("|"), line
            assert table_cells(line) == width, line


@pytest.mark.parametrize("name", EXAMPLES)
def test_html_names_every_field_and_hash(name: str) -> None:
    result = example(name)
    html = review(result, "html")
    report = build_report(result)
    assert html.startswith("<!DOCTYPE html>")
    for row in report.fields:
        assert f"<code>{row.internal}</code>" in html
    assert report.mapping_sha256 in html
    assert_self_contained(html)


def assert_self_contained(html: str) -> None:
    """Nothing the browser would fetch: no external URLs, stylesheets, scripts or images."""
    lowered = html.lower()
    assert "<link" not in lowered
    assert "<script" not in lowered
    assert "<img" not in lowered
    assert "@import" not in lowered
    assert "url(" not in lowered
    assert not re.search(r"""(src|href)\s*=\s*["']?\s*(https?:)?//""", lowered)
    assert not re.search(r"https?://", lowered)


def test_hostile_text_is_escaped_in_html(tmp_path: Path) -> None:
    result = check_mapping(hostile_mapping(tmp_path))
    assert result.plan is not None, [f.format() for f in result.findings]
    html = review(result, "html")
    assert "<script" not in html.lower()
    assert "<b>b</b>" not in html
    # title, header, group table, group columns, why:
    assert html.count("&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;") >= 4
    assert_self_contained(html.replace("http://evil.example/", ""))


def test_hostile_text_is_escaped_in_markdown(tmp_path: Path) -> None:
    result = check_mapping(hostile_mapping(tmp_path))
    text = review(result, "md")
    # Only backslash-escaped: GitHub shows them as text, never as HTML or a link.
    assert not re.search(r"(?<!\\)<(script|/script|b>)", text)
    assert not re.search(r"(?<!\\)\]\(http", text)
    assert md_text(HOSTILE) in text
    for table in markdown_tables(text):
        width = table_cells(table[0])
        assert all(table_cells(line) == width for line in table), table


def test_md_escapes() -> None:
    assert md_text("a | b <i>\n c") == r"a \| b \<i\> c"
    assert md_text("mask_email *x*") == r"mask\_email \*x\*"
    assert md_code("a|b") == r"`a\|b`"
    assert md_code("a`b") == "``a`b``"
    assert md_code("`x") == "`` `x ``"
    assert md_code("") == ""
