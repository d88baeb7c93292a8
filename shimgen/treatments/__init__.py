"""The treatments: one object per treatment, found through one registry.

Importing this package registers every treatment module below (in this
order, which is the order of docs, glossaries and ``shimgen schema``). A new
treatment is one class in one of these modules (or a new module added to
the import list) plus, if it needs one, a run-time function in
``shimgen/runtime/core/transforms.py``; see :mod:`shimgen.treatments.base` for
what it declares.
"""

from __future__ import annotations

from typing import Any

from shimgen.diagnostics import did_you_mean
from shimgen.mapping.model import TreatSpec

# isort: off
# Registration order breaks ties of rank (see below), so it is kept as written.
from shimgen.treatments import passthrough, keyed, lookup, numbers, dates, partial, constant  # noqa: F401

# isort: on
from shimgen.treatments.base import (
    CATEGORIES,
    HIDING,
    LEAK_WINDOW,
    REGISTRY,
    REVEAL_LIMIT,
    Treatment,
    TreatmentDef,
    TreatmentError,
)

__all__ = [
    "CATEGORIES",
    "DROP",
    "HIDING",
    "LEAK_WINDOW",
    "PASS",
    "REGISTRY",
    "REVEAL_LIMIT",
    "Treatment",
    "TreatmentDef",
    "TreatmentError",
    "category_of",
    "hiding_names",
    "parse_treatment",
    "spec_schema",
]

# Rank order (stable over the import order above): docs, glossaries and the
# JSON Schema list treatments from the most to the least revealing.
_RANKED = sorted(REGISTRY.items(), key=lambda item: item[1].rank)
REGISTRY.clear()
REGISTRY.update(_RANKED)

PASS = Treatment("pass")
DROP = Treatment("drop")


def parse_treatment(spec: TreatSpec) -> Treatment:
    """``"drop"`` or ``{mask: {keep_last: 4}}`` -> :class:`Treatment`.

    Every part that reads a mapping parses its treatments here, so none accepts
    a partial reveal past :data:`REVEAL_LIMIT` (the leak test could not check it).
    """
    arg: Any
    if isinstance(spec, str):
        name, arg = spec, None
    elif isinstance(spec, dict) and len(spec) == 1:
        name, arg = next(iter(spec.items()))
    else:
        raise TreatmentError(
            "a treatment is a name or a one-key mapping",
            "write `drop`, `mask_email` or `{mask: {keep_last: 4}}`",
        )
    definition = REGISTRY.get(name) if isinstance(name, str) else None
    if definition is None:
        known = ", ".join(REGISTRY)
        guess = did_you_mean(name, list(REGISTRY)) if isinstance(name, str) else ""
        raise TreatmentError(f"unknown treatment `{name}`", f"{guess}known treatments: {known}")
    t = Treatment(name, definition.parse(arg))
    shown = t.reveals
    if shown is not None and shown > REVEAL_LIMIT:
        raise TreatmentError(
            f"`{t}` can show {shown} characters of a value; a partial treatment shows at most "
            f"{REVEAL_LIMIT} (the generated leak test searches runs of {LEAK_WINDOW})",
            f"show fewer, e.g. `{definition.example}`; or `pass` the field, with `why:`, "
            "if it may be shown whole",
        )
    return t


def category_of(name: str) -> str:
    """The review category of a treatment name."""
    return REGISTRY[name].category


def hiding_names() -> list[str]:
    """Treatments whose output says nothing of the value but equality (lint defaults)."""
    return [name for name, d in REGISTRY.items() if d.category in HIDING]


def spec_schema() -> dict[str, Any]:
    """JSON Schema of a ``treat:`` value, read from every registered treatment."""
    return {"anyOf": [form for d in REGISTRY.values() for form in d.spec_schema()]}
