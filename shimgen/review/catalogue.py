"""The treatment catalogue in docs/treatments.md, written from the registry.

The catalogue used to live only in the design document, which a clone of the
repository does not hold; a new user found no page listing every treatment
with its syntax. Each row is read from the treatment object itself (the one
place every part asks), and a test compares the page with this output, so the
page cannot drift. Rewrite it with ``python -m shimgen.review.catalogue``.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

import yaml

from shimgen.treatments import REGISTRY, parse_treatment

__all__ = ["BEGIN", "END", "catalogue", "main", "with_catalogue"]

BEGIN = "<!-- catalogue: written by `python -m shimgen.review.catalogue`; do not edit -->"
END = "<!-- end of catalogue -->"
PAGE = Path(__file__).resolve().parents[2] / "docs" / "treatments.md"


def catalogue() -> str:
    """A Markdown table: one row per registered treatment, strictest last."""
    rows = [
        "| treatment | written as | applies to | output | reversible | shows at most | outcome |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, definition in REGISTRY.items():
        accepts = (
            ", ".join(sorted(kind.value for kind in definition.accepts))
            if definition.accepts is not None
            else "any"
        )
        output = definition.output_kind.value if definition.output_kind else "same type"
        if not definition.emits:
            output = "nothing (the field does not leave)"
        written = yaml.safe_load(definition.example)
        reveals = parse_treatment(name if written is None else written).reveals
        if not definition.emits:
            shown = "nothing"
        elif reveals is None:
            shown = "all of it" if definition.copies else "n/a: a derived value"
        else:
            shown = f"{reveals} character{'' if reveals == 1 else 's'}"
        rows.append(
            f"| `{name}` | `{definition.example}` | {accepts} | {output} | "
            f"{'yes' if definition.reversible else 'no'} | {shown} | "
            f"{definition.category}: {definition.summary} |"
        )
    return "\n".join(rows) + "\n"


def with_catalogue(page: str) -> str:
    """``page`` with the text between the markers replaced by today's catalogue."""
    pattern = re.compile(re.escape(BEGIN) + r"\n.*?" + re.escape(END), re.S)
    if not pattern.search(page):
        raise ValueError(f"{PAGE} lacks the catalogue markers")
    return pattern.sub(lambda _: f"{BEGIN}\n{catalogue()}{END}", page, count=1)


def main() -> int:
    """Rewrite the catalogue in docs/treatments.md."""
    PAGE.write_text(with_catalogue(PAGE.read_text(encoding="utf-8")), encoding="utf-8")
    sys.stdout.write(f"wrote the catalogue in {PAGE}\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
