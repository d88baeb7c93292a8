"""A schema-valid canary record for the generated service tests.

The translator-level canary (``canary.py``) only respects types and formats, which
is enough to drive ``to_external`` directly. Over HTTP every record is first validated
against the internal schema, so a canary that breaks a ``pattern`` or a ``maximum`` would
be refused with 422 before any translation happened, and the leak test would prove
nothing. This module repairs the canary, value by value, until the bundled internal
schema accepts it, formats included (the service holds detokenized values to them):
patterns are filled with a string drawn from the regex (``rstr``, seeded by the field
path, so generation stays byte-identical), known formats get a valid value, numbers are
moved into range, lengths are cut or padded, and keys the schema forbids are removed.
"""

from __future__ import annotations

import copy
import hashlib
import random
import uuid
from typing import Any

import jsonschema_rs
import rstr

_ROUNDS = 8


def _seed(pointer: list[str | int]) -> int:
    text = "/".join(str(p) for p in pointer)
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "big")


def _parent(record: Any, pointer: list[str | int]) -> Any:
    for step in pointer[:-1]:
        record = record[step]
    return record


def _number(value: Any, low: float | None, high: float | None, seed: int) -> Any:
    lo = low if low is not None else (high - 1000 if high is not None else 0)
    hi = high if high is not None else lo + 1000
    if isinstance(value, int) and not isinstance(value, bool):
        return int(lo + (seed % max(1, int(hi - lo))))
    fraction = ((seed % 997) + 1) / 999  # strictly inside (0, 1): never on an exclusive bound
    return round(lo + (hi - lo) * fraction, 6)


# A valid value per format the service asserts on values it translates inbound (a
# detokenized id must be a uuid if the internal schema says so), seeded like the rest.
_FORMATS: dict[str, Any] = {
    "uuid": lambda seed: str(uuid.UUID(int=seed << 64 | seed, version=4)),
    "email": lambda seed: f"c{seed % 10**8}@example.com",
    "date": lambda seed: f"{1950 + seed % 60}-0{1 + seed % 9}-1{seed % 9}",
    "date-time": lambda seed: f"{1950 + seed % 60}-0{1 + seed % 9}-1{seed % 9}T12:00:00Z",
    "time": lambda seed: "12:00:00Z",
    "ipv4": lambda seed: f"192.0.2.{seed % 250 + 1}",
    "ipv6": lambda seed: f"2001:db8::{seed % 65535:x}",
    "hostname": lambda seed: f"h{seed % 10**6}.example.com",
    "uri": lambda seed: f"https://example.com/c{seed % 10**6}",
}


def _repair(record: Any, error: Any, bounds: dict[str, list[float | None]]) -> bool:
    """Fix the value one validation error points at; False when this error cannot be fixed."""
    kind = error.kind
    pointer = list(error.instance_path)
    name = type(kind).__name__
    if name == "AdditionalProperties":
        target = record
        for step in pointer:
            target = target[step]
        for key in kind.unexpected:
            target.pop(key, None)
        return True
    if not pointer:
        return False
    parent, key = _parent(record, pointer), pointer[-1]
    value = parent[key]
    seed = _seed(pointer)
    if name == "Pattern":
        parent[key] = rstr.Rstr(random.Random(seed)).xeger(kind.pattern)
    elif name in ("Maximum", "ExclusiveMaximum", "Minimum", "ExclusiveMinimum"):
        # Bounds seen so far for this value: a second round learns the other side of the range.
        known = bounds.setdefault(str(pointer), [None, None])
        known["Max" in name] = float(kind.limit)
        parent[key] = _number(value, known[0], known[1], seed)
    elif name == "MaxLength":
        parent[key] = str(value)[: int(kind.limit)]
    elif name == "MinLength":
        parent[key] = (str(value) * (int(kind.limit) + 1))[: max(int(kind.limit), 1)]
    elif name == "MaxItems":
        parent[key] = list(value)[: int(kind.limit)]
    elif name == "Format" and kind.format in _FORMATS:
        parent[key] = _FORMATS[kind.format](seed)
    else:
        return False
    return True


def valid_canary(
    canary: dict[str, Any], components: dict[str, Any], ref: str = "InternalRecord"
) -> tuple[dict[str, Any], list[str]]:
    """The canary repaired to fit ``components[ref]``, and what still does not fit (pointers)."""
    validator = jsonschema_rs.validator_for(
        {"$ref": f"#/components/schemas/{ref}", "components": components}, validate_formats=True
    )
    record = copy.deepcopy(canary)
    bounds: dict[str, list[float | None]] = {}
    for _ in range(_ROUNDS):
        errors = list(validator.iter_errors(record))
        if not errors:
            return record, []
        fixed = False
        for error in errors:
            try:
                fixed = _repair(record, error, bounds) or fixed
            except (KeyError, IndexError, TypeError):
                continue  # an earlier repair removed or replaced this value
        if not fixed:
            break
    left = [
        "/" + "/".join(str(p) for p in e.instance_path) + f" ({type(e.kind).__name__})"
        for e in validator.iter_errors(record)
    ]
    return record, left
