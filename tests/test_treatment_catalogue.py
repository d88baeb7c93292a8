"""docs/treatments.md lists every treatment, written from the registry (a new user found no catalogue)."""

from __future__ import annotations

from pathlib import Path

from shimgen.review.catalogue import BEGIN, END, catalogue, with_catalogue
from shimgen.treatments import REGISTRY

PAGE = Path(__file__).resolve().parent.parent / "docs" / "treatments.md"


def test_the_page_holds_todays_catalogue() -> None:
    page = PAGE.read_text(encoding="utf-8")
    assert with_catalogue(page) == page, "run `python -m shimgen.review.catalogue`"


def test_every_treatment_has_a_row_with_its_example() -> None:
    table = catalogue()
    for name, definition in REGISTRY.items():
        assert f"| `{name}` | `{definition.example}` |" in table


def test_a_changed_catalogue_is_noticed() -> None:
    page = PAGE.read_text(encoding="utf-8")
    stale = page.replace("| `tokenize` |", "| `tokenise` |", 1)
    assert stale != page and with_catalogue(stale) == page
    assert BEGIN in page and END in page
