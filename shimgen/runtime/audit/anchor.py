"""Holding the audit chains against their signed checkpoints (:mod:`.audit_checkpoint`).

:func:`.audit.verify` walks the records once and hands :func:`check` a
:class:`ChainView` per chain (how far it holds, its last seq, its hashes at the
checkpointed seqs). Against the well-formed, correctly signed checkpoints this
reports, naming chain and seq: a checkpointed record that is gone (tail cut,
chain or file deleted) or differs (rewritten with recomputed hashes), records
after a chain's final checkpoint (forged append), a chain no checkpoint names
(forged chain), a checkpoint missing from a chain's numbering or not signed by
a known audit key, and a missing checkpoint interval: two checkpoints more than
twice their interval apart, or a chain whose last checkpoint is older than that
and not final.
"""

from __future__ import annotations

import base64
import binascii
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import orjson

from ..core.audit_key import verify_signature
from .chain import GENESIS, AuditError, reason
from .checkpoint import CHECKPOINT_FIELDS, VERSION, digest, signed_bytes, unix_time

__all__ = ["ChainView", "Problem", "check", "read_checkpoints", "wanted"]

# A checkpoint may come this much later than the interval (so up to twice the interval,
# and at least a second, after the one before) before one counts as missing: the
# publishing thread shares a busy CPU with the service, and late is not missing.
_SLACK_FACTOR = 1.0
_MIN_SLACK = 1.0


# -- reading ------------------------------------------------------------------------------


def read_checkpoints(paths: Iterable[str]) -> list[dict[str, Any]]:
    """Every checkpoint in the given files: checkpoint files and service logs alike.

    A line is taken when it is a JSON object with a ``sig`` (a checkpoint
    file's line) or with a ``checkpoint`` object (the service log's
    ``audit-checkpoint`` line); every other line is skipped, so a whole log
    file can be given. A damaged checkpoint line is skipped too: it then counts
    as missing, which verification reports.
    """
    found: list[dict[str, Any]] = []
    for path in paths:
        try:
            with open(path, "rb") as fh:
                lines = fh.read().splitlines()
        except OSError as exc:
            raise AuditError(f"cannot read audit checkpoint file {path}: {reason(exc)}") from None
        for raw in lines:
            try:
                item = orjson.loads(raw)
            except orjson.JSONDecodeError:
                continue
            if isinstance(item, dict) and "sig" not in item:
                item = item.get("checkpoint")
            if isinstance(item, dict) and "sig" in item:
                found.append(item)
    return found


# -- checking -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Problem:
    """One thing the checkpoints show to be wrong, named by chain and seq."""

    chain: str | None
    seq: int | None
    kind: str
    meaning: str

    @property
    def reason(self) -> str:
        return f"{self.kind}: {self.meaning}"

    def __str__(self) -> str:
        where = f"chain {self.chain}" if self.chain is not None else "a checkpoint"
        if self.chain is not None and self.seq is not None:
            where += f" seq {self.seq}"
        return f"{where}: {self.meaning} ({self.kind})"


@dataclass(slots=True)
class ChainView:
    """What :func:`.audit.verify` saw of one chain, for :func:`check`.

    ``good`` is the last seq of the unbroken prefix, ``last`` the highest seq
    stored, ``hashes`` the stored hash at each checkpointed seq within
    ``good``, and ``broken`` the seq where the chain itself breaks (already
    reported by ``verify``).
    """

    good: int = 0
    last: int = 0
    broken: int | None = None
    hashes: dict[int, str] = field(default_factory=dict)


def _shape_ok(cp: Mapping[str, Any]) -> bool:
    def count(v: object) -> bool:
        return isinstance(v, int) and not isinstance(v, bool) and v >= 0

    return (
        cp.keys() == CHECKPOINT_FIELDS
        and cp["v"] == VERSION
        and isinstance(cp["chain"], str)
        and count(cp["n"])
        and cp["n"] >= 1
        and count(cp["seq"])
        and cp["count"] == cp["seq"]
        and isinstance(cp["head"], str)
        and isinstance(cp["time"], str)
        and unix_time(cp["time"]) is not None
        and isinstance(cp["interval"], float)
        and math.isfinite(cp["interval"])
        and cp["interval"] > 0
        and isinstance(cp["final"], bool)
        and isinstance(cp["prev"], str)
        and isinstance(cp["key"], str)
        and isinstance(cp["sig"], str)
    )


def _signed_ok(cp: Mapping[str, Any], public_keys: Mapping[str, bytes]) -> bool:
    public = public_keys.get(cp["key"])
    if public is None:
        return False
    try:
        signature = base64.b64decode(cp["sig"], validate=True)
    except (binascii.Error, ValueError):
        return False
    return verify_signature(public, signature, signed_bytes(cp))


def wanted(checkpoints: Iterable[Mapping[str, Any]]) -> dict[str, set[int]]:
    """Per chain, the seqs whose stored hash verification must remember."""
    out: dict[str, set[int]] = {}
    for cp in checkpoints:
        chain, seq = cp.get("chain"), cp.get("seq")
        if isinstance(chain, str) and isinstance(seq, int) and seq > 0:
            out.setdefault(chain, set()).add(seq)
    return out


def _label(cp: Mapping[str, Any]) -> str:
    return f"checkpoint #{cp['n']} of {cp['time']}"


def _valid(
    checkpoints: Iterable[Mapping[str, Any]],
    public_keys: Mapping[str, bytes],
    problems: list[Problem],
) -> dict[str, list[Mapping[str, Any]]]:
    """Well-formed, correctly signed checkpoints by chain, ordered by ``n``; the rest reported."""
    by_chain: dict[str, dict[int, Mapping[str, Any]]] = {}
    for cp in checkpoints:
        chain = cp.get("chain") if isinstance(cp.get("chain"), str) else None
        seq = cp.get("seq") if isinstance(cp.get("seq"), int) else None
        if not _shape_ok(cp):
            problems.append(
                Problem(chain, seq, "malformed checkpoint", "not a checkpoint this shim writes")
            )
            continue
        if not _signed_ok(cp, public_keys):
            problems.append(
                Problem(
                    chain,
                    seq,
                    "bad checkpoint signature",
                    f"{_label(cp)} is not signed by a known audit key ({cp['key']}): "
                    "forged or altered checkpoint",
                )
            )
            continue
        seen = by_chain.setdefault(cp["chain"], {})
        other = seen.get(cp["n"])
        if other is not None and other != cp:
            problems.append(
                Problem(
                    cp["chain"],
                    cp["seq"],
                    "conflicting checkpoints",
                    f"two different signed checkpoints #{cp['n']}: the audit key was misused",
                )
            )
        seen[cp["n"]] = cp  # the same checkpoint from the file and the log counts once
    return {chain: [seen[n] for n in sorted(seen)] for chain, seen in by_chain.items()}


def _gap(interval: float) -> float:
    return interval + max(_MIN_SLACK, interval * _SLACK_FACTOR)


def check(
    checkpoints: Iterable[Mapping[str, Any]],
    views: Mapping[str, ChainView],
    public_keys: Mapping[str, bytes],
    now: float,
) -> list[Problem]:
    """Everything the signed checkpoints show to be wrong with the chains ``views`` describe."""
    problems: list[Problem] = []
    by_chain = _valid(checkpoints, public_keys, problems)
    for chain, view in views.items():
        if chain not in by_chain and view.last > 0:
            problems.append(
                Problem(
                    chain,
                    1,
                    "no checkpoint",
                    "no signed checkpoint names this chain: a forged chain, or its checkpoints "
                    "were deleted",
                )
            )
    for chain, cps in by_chain.items():
        view = views.get(chain, ChainView())
        problems.extend(_check_chain(chain, cps, view, now))
    return problems


def _check_chain(
    chain: str, cps: list[Mapping[str, Any]], view: ChainView, now: float
) -> Iterable[Problem]:
    # 1. the checkpoints themselves: numbered from 1, each linked to the one before
    expected_n, prev, prev_cp = 1, GENESIS, None
    for cp in cps:
        if cp["n"] != expected_n or cp["prev"] != prev:
            missing = (
                f"#{expected_n}" if cp["n"] == expected_n + 1 else f"#{expected_n}-#{cp['n'] - 1}"
            )
            after = f" after {_label(prev_cp)}" if prev_cp is not None else ""
            yield Problem(
                chain,
                cp["seq"],
                "checkpoint missing",
                f"checkpoint {missing}{after} is missing (next is {_label(cp)}): checkpoints deleted",
            )
        if prev_cp is not None:
            t0, t1 = unix_time(prev_cp["time"]), unix_time(cp["time"])
            assert t0 is not None and t1 is not None  # checked by _shape_ok
            if t1 - t0 > _gap(prev_cp["interval"]):
                yield Problem(
                    chain,
                    cp["seq"],
                    "missing checkpoint interval",
                    f"no checkpoint between {prev_cp['time']} and {cp['time']} "
                    f"({t1 - t0:.1f} s, interval {prev_cp['interval']:g} s)",
                )
            if cp["seq"] < prev_cp["seq"]:
                yield Problem(
                    chain, cp["seq"], "malformed checkpoint", f"{_label(cp)} goes back in seq"
                )
        expected_n, prev, prev_cp = cp["n"] + 1, digest(cp), cp
    # 2. the records against them
    last_ok = 0
    for cp in cps:
        seq = cp["seq"]
        if seq == 0:
            continue
        if view.broken is not None and seq >= view.broken:
            break  # the chain's own break is reported already
        if view.good < seq:
            what = (
                "no record of this chain is stored: chain or file deleted"
                if view.last == 0
                else f"the chain ends at seq {view.good}: records deleted"
            )
            yield Problem(
                chain,
                view.good + 1,
                "records missing",
                f"{_label(cp)} covers seq {seq}, but {what}",
            )
            break
        if view.hashes.get(seq) != cp["head"]:
            span = f"seq {last_ok + 1}-{seq}" if last_ok + 1 < seq else f"seq {seq}"
            yield Problem(
                chain,
                seq,
                "head mismatch",
                f"the record differs from {_label(cp)}: records in {span} were rewritten "
                "(hashes recomputed)",
            )
            break
        last_ok = seq
    # 3. the end: a final checkpoint closes the chain; without one, checkpoints must be recent
    last = cps[-1]
    if last["final"]:
        if view.last > last["seq"] and (view.broken is None or view.broken > last["seq"]):
            yield Problem(
                chain,
                last["seq"] + 1,
                "forged append",
                f"records after seq {last['seq']}, which the final {_label(last)} closed",
            )
    else:
        t = unix_time(last["time"])
        assert t is not None
        if now - t > _gap(last["interval"]):
            yield Problem(
                chain,
                last["seq"],
                "missing checkpoint interval",
                f"no checkpoint since {last['time']} ({now - t:.1f} s ago, interval "
                f"{last['interval']:g} s) and no final one: the shim stopped without its "
                "shutdown checkpoint (crash), or later checkpoints were deleted",
            )
