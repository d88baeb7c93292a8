"""How large a model shimgen takes: the limits of the tools ``generate`` runs, checked by ``check``.

``check`` walks the model anyway (:mod:`shimgen.schema.loader`), so it counts what
costs ``generate`` most and refuses a model beyond these limits with SG006: a
mapping that checks also generates, in seconds. The limits are far above real
schemas and far below where time runs away (docs/threat-model.md, "A schema that
costs more than its size").
"""

from __future__ import annotations

from pathlib import Path

from shimgen.schema.refs import SchemaError

MAX_MODEL_SCHEMAS = 2_000
"""Schemas one model may reference ($ref targets, each counted once).

datamodel-code-generator's time grows with the square of a chain of plain refs
(2,000 links: 9 s and 370 MB; 4,000: 50 s and 1.3 GB). The largest real model
tried, Stripe's ``charge``, references 154."""

MAX_ENUM_VALUES = 20_000
"""Enum values one model may hold, all its enums together.

datamodel-code-generator's time grows with the square of an enum's size (8,000
values: 2 s; 20,000: 8 s; 32,000: 19 s; 160,000: over 300 s). The largest real enum
tried, in Adyen's ``LegalEntity``, has 55 values."""


def check_size(path: Path, schemas: int, enum_values: int) -> None:
    """Raise :class:`SchemaError` if a model references more than MAX_MODEL_SCHEMAS
    schemas or holds more than MAX_ENUM_VALUES enum values."""
    if schemas > MAX_MODEL_SCHEMAS:
        raise SchemaError(
            f"the model references {schemas:,} schemas, more than the "
            f"{MAX_MODEL_SCHEMAS:,} shimgen generates models for",
            path,
            hint="point the mapping at a smaller model, or cut long $ref chains "
            "(a $ref to a $ref to ...) down to one step",
        )
    if enum_values > MAX_ENUM_VALUES:
        raise SchemaError(
            f"the model's enums hold {enum_values:,} values together, more than the "
            f"{MAX_ENUM_VALUES:,} shimgen generates models for",
            path,
            hint="describe very large value sets with a pattern or a plain string type "
            "and check them upstream",
        )
