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

from collections.abc import Callable
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
        if old.info.rank != new.info.rank:
            return (1 if new.info.rank < old.info.rank else -1), ""
        return _same_rank(old, new)
    compare = _PARAMS.get(old.name)
    if compare is None:  # a treatment without parameters equals itself
        return 0, ""
    return compare(old, new)


def _named_reason(old: Treatment, new: Treatment) -> str:
    """A plain-language reason for the common moves between treatments."""
    if old.name == "drop":
        return "the field now crosses the boundary (it was dropped)"
    if new.name == "drop":
        return "the field no longer crosses the boundary"
    if new.name == "pass":
        return "the value now crosses in clear"
    if old.name == "pass":
        return "the value no longer crosses in clear"
    if {old.name, new.name} == {"hash", "tokenize"}:
        return "a token can be turned back into the value by the shim; a hash cannot"
    return ""


# -- different treatments of the same rank -------------------------------------


def _same_rank(old: Treatment, new: Treatment) -> tuple[int, str]:
    pair = {old.name, new.name}
    if pair == {"year", "month"}:
        sign = 1 if new.name == "month" else -1
        return sign, "`month` keeps the month of the date as well as the year"
    if pair == {"mask", "last4"}:
        mask = old if old.name == "mask" else new
        keeps = int(mask.param("keep_first", 0)) + int(mask.param("keep_last", 0))
        if int(mask.param("keep_last", 0)) >= 4:
            sign = 1 if new is mask else -1
            return sign, f"`{mask}` shows the last four characters and the length as well"
        if keeps == 0:
            sign = -1 if new is mask else 1
            return sign, f"`{mask}` shows only the length; `last4` shows four characters"
    return 0, (
        f"`{old}` and `{new}` generalise differently at the same strength; "
        "review what the new output lets a reader learn"
    )


# -- one treatment with other parameters ----------------------------------------


def _mask(old: Treatment, new: Treatment) -> tuple[int, str]:
    ends = ("keep_first", "keep_last")
    deltas = [int(new.param(k, 0)) - int(old.param(k, 0)) for k in ends]
    if all(d >= 0 for d in deltas) and any(d > 0 for d in deltas):
        return 1, "the mask keeps more characters in clear"
    if all(d <= 0 for d in deltas) and any(d < 0 for d in deltas):
        return -1, "the mask keeps fewer characters in clear"
    if any(deltas):
        return 0, "the mask keeps more characters at one end and fewer at the other"
    return 0, "only the mask character changed"


Compare = Callable[[Treatment, Treatment], tuple[int, str]]


def _ordered(param: str, more: str, less: str) -> Compare:
    """A comparison where a larger ``param`` reveals more."""

    def compare(old: Treatment, new: Treatment) -> tuple[int, str]:
        a, b = old.param(param), new.param(param)
        if a == b:
            return 0, ""
        return (1, more) if b > a else (-1, less)

    return compare


def _bucket(old: Treatment, new: Treatment) -> tuple[int, str]:
    a, b = set(old.param("bounds", ())), set(new.param("bounds", ()))
    if a < b:
        return 1, "finer buckets: every old range is split into narrower ones"
    if b < a:
        return -1, "coarser buckets: ranges are merged into wider ones"
    return 0, "the bucket bounds moved; neither set of ranges is finer than the other"


def _map(old: Treatment, new: Treatment) -> tuple[int, str]:
    """A map reveals as much as it tells internal values apart."""
    a, b = len(set(old.table.values())), len(set(new.table.values()))
    if b > a:
        why = "the map tells more internal values apart"
        if new.reversible and not old.reversible:
            why = "the map becomes one-to-one, so each external value names one internal value"
        return 1, why
    if b < a:
        why = "the map merges internal values"
        if old.reversible and not new.reversible:
            why = "the map is no longer one-to-one"
        return -1, why
    return 0, "the map's labels changed; it tells as many values apart as before"


_PARAMS: dict[str, Compare] = {
    "mask": _mask,
    "prefix": _ordered("length", "a longer prefix is shown", "a shorter prefix is shown"),
    "round": _ordered("digits", "rounded to more digits", "rounded to fewer digits"),
    "hash": _ordered(
        "length",
        "a longer pseudonym: fewer collisions, so records link up more reliably",
        "a shorter pseudonym: more collisions, so records link up less reliably",
    ),
    "bucket": _bucket,
    "map": _map,
    "redact": lambda old, new: (0, "only the replacement text changed"),
}
