"""Does a treated internal value fit the external type?

Answers are a reason string (for the finding) or None. Each treatment
object decides (``shimgen.treatments``): ``pass`` compares the two schemas
structurally, every other treatment checks the kind and format it declares.
"""

from __future__ import annotations

from shimgen.schema.model import SchemaNode
from shimgen.treatments import Treatment
from shimgen.treatments.fit import pass_fit

__all__ = ["applicable", "pass_fit", "treatment_fit"]


def treatment_fit(t: Treatment, src: SchemaNode, dst: SchemaNode) -> str | None:
    """Why ``t`` applied to ``src`` does not fit ``dst``, or None if it does."""
    return t.definition.fit(t, src, dst)


def applicable(t: Treatment, src: SchemaNode) -> str | None:
    """Why ``t`` cannot apply to ``src``, or None if it can."""
    return t.definition.applicable(t, src)
