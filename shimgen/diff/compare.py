"""Compare two checked mappings into a :class:`DiffResult`."""

from __future__ import annotations

from shimgen.diff.elevation import compare_elevations
from shimgen.diff.fields import compare_fields
from shimgen.diff.model import DiffResult
from shimgen.diff.side import Side
from shimgen.diff.structure import compare_derived, compare_groups, compare_meta, compare_routes
from shimgen.diff.tracking import compare_tracking


def compare(old: Side, new: Side) -> DiffResult:
    """Every classified change from ``old`` to ``new``; identical plans give none."""
    result = DiffResult(old.label, new.label, new.plan.name, old.plan.version, new.plan.version)
    parts = (
        compare_meta, compare_groups, compare_elevations, compare_fields, compare_derived,
        compare_routes, compare_tracking,
    )  # fmt: skip
    for part in parts:
        result.changes.extend(part(old, new))
    # a rule covering several old fields may report the same change once per field
    result.changes = list(dict.fromkeys(result.changes))
    return result
