"""The HTML review report in a real browser (headless Chromium): it renders and shows every path.

Chromium is Debian's package, installed on demand by the ``chromium``
fixture. Without it the tests skip on a developer machine, but fail under
``CI=true``: CI must not claim a browser check it did not make.
"""

from __future__ import annotations

import html
import re
from pathlib import Path

import pytest

from shimgen.check import check_mapping
from shimgen.review import build_report, review
from tests.browser import Rendered, chromium_or_reason, png_pixels, render
from tests.conftest import skip_or_fail
from tests.expected import EXAMPLES
from tests.review_support import example, hostile_mapping


@pytest.fixture(scope="session")
def chromium() -> Path:
    browser, reason = chromium_or_reason()
    if browser is None:
        skip_or_fail(reason)
    return browser


def _page_text(rendered: Rendered) -> str:
    body = re.sub(r"<style.*?</style>", " ", rendered.dom, flags=re.S)
    return html.unescape(re.sub(r"<[^>]+>", " ", body))


def _assert_not_blank(png: bytes) -> None:
    width, height, bpp, pixels = png_pixels(png)
    assert (width, height) == (1280, 2000)
    stride = width * bpp
    colours = {pixels[i : i + 3] for i in range(0, len(pixels), bpp * 7)}
    assert len(colours) > 20, "the screenshot is (nearly) one colour"
    # The header bar is dark blue; the body below it has text on white.
    top = pixels[10 * stride + 10 * bpp : 10 * stride + 10 * bpp + 3]
    assert top[2] > top[0] + 60, f"no header bar at the top: {top!r}"
    band = range(600 * stride, 1600 * stride, bpp)
    inked = sum(1 for i in band if pixels[i : i + 3] != b"\xff\xff\xff")
    assert inked > len(band) // 100, "the body is blank"


@pytest.mark.parametrize("name", EXAMPLES)
def test_html_report_renders_with_every_path(name: str, chromium: Path, tmp_path: Path) -> None:
    result = example(name)
    page = tmp_path / f"{name}.html"
    page.write_text(review(result, "html"), encoding="utf-8")
    rendered = render(chromium, page)
    _assert_not_blank(rendered.png)
    text = _page_text(rendered)
    report = build_report(result)
    assert f"Security review: {name} shim" in text
    internal = [row.internal for row in report.fields]
    external = [c.external for row in report.fields for c in row.cells if c.external]
    external += [d.external for d in report.derived]
    missing = [p for p in internal + external if p not in text]
    assert not missing, f"paths not on the rendered page: {missing}"


def test_hostile_mapping_text_stays_text_in_the_browser(chromium: Path, tmp_path: Path) -> None:
    result = check_mapping(hostile_mapping(tmp_path))
    page = tmp_path / "hostile.html"
    page.write_text(review(result, "html"), encoding="utf-8")
    rendered = render(chromium, page)
    assert "<script" not in rendered.dom.lower()
    assert "<script>alert('x')</script>" in _page_text(rendered)
