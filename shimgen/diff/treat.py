"""Compare two treatments: does the new one reveal more, less, or neither?

Different treatments are ordered by the catalogue's ``rank`` (higher reveals
less), so the diff and the "no group" view agree on what is strict. Two
treatments of equal rank, or one treatment with other parameters, are
compared by what the output lets a reader learn (see ``docs/diff.md``).

Every rule here is written as a *signed* comparison that is evaluated in
both directions, so the classification is antisymmetric by construction:
``old → new`` is loosened exactly when ``new → old`` is tightened.
"""

from __future__ import annotations

from dataclasses import dataclass

from shimgen.diff.model import Kind
from shimgen.treatments import Treatment


@dataclass(frozen=True)
class TreatVerdict:
    kind: Kind
    reason: str


def compare_treatments(old: Treatment, new: Treatment) -> TreatVerdict | None:
    """Classify ``old → new`` for one view; None when they are the same."""
    if old == new:
        return None
    sign, why = _sign(old, new)
    why = why or _named_reason(old, new)
    if sign > 0:
        return TreatVerdict(Kind.LOOSENED, why or f"`{new}` reveals more than `{old}`")
    if sign < 0:
        return TreatVerdict(Kind.TIGHTENED, why or f"`{new}` reveals less than `{old}`")
    return TreatVerdict(Kind.NEUTRAL, why or "neither treatment reveals more than the other")


def _sign(old: Treatment, new: Treatment) -> tuple[int, str]:
    """> 0: ``new`` reveals more than ``old``; < 0: less; 0: neither (with a reason)."""
    if old.name != new.name:
        if old.rank != new.rank:
            return (1 if new.rank < old.rank else -1), ""
        return _same_rank(old, new)
    return old.definition.compare(old, new)


def _named_reason(old: Treatment, new: Treatment) -> str:
    """A plain-language reason for the common moves between treatments."""
    if not old.emits:
        return "the field now crosses the boundary (it was dropped)"
    if not new.emits:
        return "the field no longer crosses the boundary"
    if new.definition.copies:
        return "the value now crosses in clear"
    if old.definition.copies:
        return "the value no longer crosses in clear"
    keyed = old.definition.needs_keys and new.definition.needs_keys
    if keyed and old.reversible != new.reversible:
        return "a token can be turned back into the value by the shim; a hash cannot"
    return ""


def _same_rank(old: Treatment, new: Treatment) -> tuple[int, str]:
    """Different treatments of equal rank: each treatment's own ``versus`` rule, else neutral."""
    # Asked in name order whichever way the diff runs, so the answer stays antisymmetric.
    first, second = sorted((old, new), key=lambda t: t.name)
    verdict = first.definition.versus(first, second)
    if verdict is None:
        back = second.definition.versus(second, first)
        verdict = None if back is None else (-back[0], back[1])
    if verdict is not None:
        sign, why = verdict  # > 0: `first` reveals more
        return (sign if new is first else -sign), why
    return 0, (
        f"`{old}` and `{new}` generalise differently at the same strength; "
        "review what the new output lets a reader learn"
    )
