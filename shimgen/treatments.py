"""The treatment catalogue: parsing, applicability, output types, strictness.

One table describes every treatment, so the checker, the code generator and
(later) the review report all agree on what ``mask`` or ``tokenize`` means.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from shimgen.mapping.model import TreatSpec
from shimgen.schema.model import Kind

STR = frozenset({Kind.STRING})
NUM = frozenset({Kind.INTEGER, Kind.NUMBER})
ID = frozenset({Kind.STRING, Kind.INTEGER})
DATES = frozenset({"date", "date-time"})


@dataclass(frozen=True)
class Info:
    """What one treatment accepts, yields and how much it reveals."""

    accepts: frozenset[Kind] | None  # internal kinds; None: any kind
    output: Kind | None  # None: the input type (pass, round, map), or absent (drop)
    reversible: bool
    rank: int  # higher reveals less; picks the "no group" view
    params: frozenset[str] = frozenset()
    summary: str = ""


CATALOGUE: dict[str, Info] = {
    "pass": Info(None, None, True, 0, summary="the value"),
    "tokenize": Info(ID, Kind.STRING, True, 10, summary="AES-SIV token, reversible by the shim"),
    "map": Info(frozenset({Kind.STRING, Kind.INTEGER, Kind.BOOLEAN}), None, True, 20),
    "round": Info(NUM, None, False, 40, frozenset({"digits"}), "rounded number"),
    "bucket": Info(NUM, Kind.STRING, False, 50, frozenset({"bounds"}), "range label"),
    "year": Info(STR, Kind.INTEGER, False, 50, summary="year of a date"),
    "month": Info(STR, Kind.STRING, False, 50, summary="YYYY-MM of a date"),
    "prefix": Info(STR, Kind.STRING, False, 50, frozenset({"length"}), "first N characters"),
    "last4": Info(ID, Kind.STRING, False, 55, summary="last four characters"),
    "mask": Info(
        STR, Kind.STRING, False, 55, frozenset({"keep_first", "keep_last", "char"}), "masked"
    ),
    "mask_email": Info(STR, Kind.STRING, False, 60, summary="j***@example.com"),
    "hash": Info(
        frozenset({Kind.STRING, Kind.INTEGER, Kind.NUMBER}),
        Kind.STRING,
        False,
        70,
        frozenset({"length"}),
        "keyed HMAC-SHA-256 pseudonym",
    ),
    "redact": Info(None, Kind.STRING, False, 80, frozenset({"text"}), "a constant"),
    "null": Info(None, Kind.NULL, False, 90, summary="null"),
    "drop": Info(None, None, False, 100, summary="absent"),
}

DEFAULT_REDACTION = "[redacted]"
DEFAULT_HASH_LENGTH = 32


@dataclass(frozen=True)
class Treatment:
    """A parsed treatment with normalised parameters."""

    name: str
    params: tuple[tuple[str, Any], ...] = ()

    @property
    def info(self) -> Info:
        return CATALOGUE[self.name]

    def param(self, key: str, default: Any = None) -> Any:
        return dict(self.params).get(key, default)

    @property
    def table(self) -> dict[Any, Any]:
        """The value table of a ``map`` treatment."""
        return dict(self.param("table", ()))

    @property
    def reversible(self) -> bool:
        if self.name == "map":
            values = list(self.table.values())
            return len(values) == len(set(values))
        return self.info.reversible

    @property
    def emits(self) -> bool:
        return self.name != "drop"

    def __str__(self) -> str:
        if self.name == "map":
            return "map(" + ", ".join(f"{k}→{v}" for k, v in self.table.items()) + ")"
        # Parameters left at their defaults are not shown: `mask(keep_last=4)`, not
        # `mask(keep_first=0, keep_last=4, char='*')` (reports are read by non-programmers).
        shown = [(k, v) for k, v in self.params if _DEFAULTS.get((self.name, k), _NONE) != v]
        if not shown:
            return self.name
        args = ", ".join(f"{k}={v!r}" for k, v in shown)
        return f"{self.name}({args})"


_NONE = object()
_DEFAULTS: dict[tuple[str, str], Any] = {
    ("mask", "keep_first"): 0,
    ("mask", "keep_last"): 0,
    ("mask", "char"): "*",
    ("hash", "length"): DEFAULT_HASH_LENGTH,
    ("redact", "text"): DEFAULT_REDACTION,
}
"""What :func:`parse_treatment` fills in for an option the mapping leaves out."""

PASS = Treatment("pass")
DROP = Treatment("drop")


class TreatmentError(ValueError):
    def __init__(self, message: str, hint: str) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint


def _int(name: str, key: str, value: Any, low: int | None = None, high: int | None = None) -> int:
    if not isinstance(value, int) or isinstance(value, bool):
        raise TreatmentError(f"`{name}.{key}` must be an integer", f"write `{key}: 4`")
    if (low is not None and value < low) or (high is not None and value > high):
        span = f"{low}..{high}" if high is not None else f">= {low}"
        raise TreatmentError(f"`{name}.{key}` must be {span}", f"pick a value in {span}")
    return value


def parse_treatment(spec: TreatSpec) -> Treatment:
    """``"drop"`` or ``{mask: {keep_last: 4}}`` -> :class:`Treatment`."""
    if isinstance(spec, str):
        name, arg = spec, None
    elif isinstance(spec, dict) and len(spec) == 1:
        name, arg = next(iter(spec.items()))
    else:
        raise TreatmentError(
            "a treatment is a name or a one-key mapping",
            "write `drop`, `mask_email` or `{mask: {keep_last: 4}}`",
        )
    if name not in CATALOGUE:
        known = ", ".join(CATALOGUE)
        raise TreatmentError(f"unknown treatment `{name}`", f"known treatments: {known}")
    return Treatment(name, _params(name, arg))


def _params(name: str, arg: Any) -> tuple[tuple[str, Any], ...]:
    if arg is None:
        if name in ("round", "bucket", "prefix", "map"):
            raise TreatmentError(f"`{name}` needs a parameter", _EXAMPLES[name])
        if name == "redact":
            return (("text", DEFAULT_REDACTION),)
        if name == "hash":
            return (("length", DEFAULT_HASH_LENGTH),)
        if name == "mask":
            return (("keep_first", 0), ("keep_last", 0), ("char", "*"))
        return ()
    if name == "redact":
        if not isinstance(arg, str):
            raise TreatmentError("`redact` text must be a string", _EXAMPLES[name])
        return (("text", arg),)
    if name == "round":
        return (("digits", _int(name, "digits", arg, -15, 15)),)
    if name == "prefix":
        return (("length", _int(name, "length", arg, 1)),)
    if name == "bucket":
        ok = (
            isinstance(arg, list)
            and arg
            and all(isinstance(b, (int, float)) and not isinstance(b, bool) for b in arg)
        )
        if not ok or any(a >= b for a, b in itertools.pairwise(arg)):
            raise TreatmentError("`bucket` needs a list of increasing numbers", _EXAMPLES[name])
        return (("bounds", tuple(arg)),)
    if name == "map":
        if not isinstance(arg, Mapping) or not arg:
            raise TreatmentError("`map` needs a non-empty table", _EXAMPLES[name])
        if any(v is None or isinstance(v, (dict, list)) for v in arg.values()):
            raise TreatmentError("`map` values must be plain non-null values", _EXAMPLES[name])
        return (("table", tuple(arg.items())),)
    if not isinstance(arg, Mapping):
        raise TreatmentError(
            f"`{name}` takes named options", _EXAMPLES.get(name, f"write `{name}`")
        )
    unknown = set(arg) - CATALOGUE[name].params
    if unknown:
        raise TreatmentError(
            f"`{name}` has no option `{sorted(unknown)[0]}`",
            f"options of {name}: {', '.join(sorted(CATALOGUE[name].params)) or 'none'}",
        )
    if name == "hash":
        return (("length", _int(name, "length", arg.get("length", DEFAULT_HASH_LENGTH), 8, 64)),)
    if name == "mask":
        char = arg.get("char", "*")
        if not isinstance(char, str) or len(char) != 1:
            raise TreatmentError("`mask.char` must be one character", 'write `char: "*"`')
        return (
            ("keep_first", _int(name, "keep_first", arg.get("keep_first", 0), 0)),
            ("keep_last", _int(name, "keep_last", arg.get("keep_last", 0), 0)),
            ("char", char),
        )
    raise TreatmentError(f"`{name}` takes no options", f"write `{name}`")


_EXAMPLES = {
    "redact": 'write `{redact: "[hidden]"}`',
    "round": "write `{round: 2}` (or -2 for hundreds)",
    "prefix": "write `{prefix: 3}`",
    "bucket": "write `{bucket: [0, 18, 65]}`",
    "map": "write `{map: {A: active, S: suspended}}`",
    "hash": "write `{hash: {length: 16}}`",
    "mask": "write `{mask: {keep_last: 4}}`",
}
