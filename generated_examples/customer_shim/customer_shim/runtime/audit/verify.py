"""Verifying hash chains: one pass over a store's records, and against signed checkpoints.

:func:`verify` reads the records in storage order, keeps a few values per chain
(never per record, so a store of any size verifies in constant memory per
chain), and reports the earliest break: an edited record (its hash does not
match its content), a deleted, repeated or reordered one (``seq`` and ``prev``
do not follow), one stored under another chain, unreadable or malformed rows,
and crossings naming a grant the trail never activated
(:class:`.grant_ledger.GrantLedger`). With checkpoints it also checks what a
hash chain alone cannot show (:func:`.anchor.check`). Reading a store by URL
and the ``audit verify`` command are :mod:`.trail`'s.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from . import anchor
from .anchor import ChainView, Problem
from .breaks import Break
from .chain import CHAIN_FIELDS, GENESIS, record_hash
from .events import event_keysets
from .grant_ledger import GrantLedger

__all__ = [
    "DUPLICATE",
    "HASH_MISMATCH",
    "MALFORMED",
    "MISPLACED",
    "OUT_OF_ORDER",
    "PREV_MISMATCH",
    "SEQ_GAP",
    "UNREADABLE",
    "Verdict",
    "verify",
]

# A stored record: an event of any kind (events.event_keysets) plus the chain fields
_RECORD_KEYSETS = tuple(keys | frozenset(CHAIN_FIELDS) for keys in event_keysets())
_HEX64 = re.compile(r"[0-9a-f]{64}", re.ASCII)


@dataclass(frozen=True, slots=True)
class Verdict:
    """Outcome of :func:`verify`; ``heads`` maps each chain to its last ``(seq, hash)``.

    ``first_bad`` is the earliest break of a chain itself; ``problems`` what the
    checkpoints show besides (``checkpoints`` is None when none were given).
    """

    ok: bool
    chains: int
    records: int
    first_bad: Break | None = None
    heads: dict[str, tuple[int, str]] = field(default_factory=dict)
    problems: tuple[Problem, ...] = ()
    checkpoints: int | None = None

    def __str__(self) -> str:
        if self.first_bad is not None:
            return f"audit chain BROKEN at {self.first_bad}"
        if self.problems:
            return f"audit trail TAMPERED: {self.problems[0]}"
        chains = "chain" if self.chains == 1 else "chains"
        records = "record" if self.records == 1 else "records"
        text = f"audit chain OK: {self.chains:,} {chains}, {self.records:,} {records}"
        if self.checkpoints is not None:
            text += f", matching {self.checkpoints:,} signed checkpoints"
        return text


HASH_MISMATCH = ("hash mismatch", "record edited")
PREV_MISMATCH = ("prev does not match", "record missing or reordered")
SEQ_GAP = ("seq gap", "record deleted")
DUPLICATE = ("duplicate seq", "record repeated")
OUT_OF_ORDER = ("seq out of order", "records reordered")
MISPLACED = ("key mismatch", "record stored under another chain or seq")
UNREADABLE = ("unreadable record", "not valid JSON")
MALFORMED = ("malformed record", "not an audit record")


class _Chain:
    """Streaming state of one chain: O(1) memory per chain however long it is."""

    __slots__ = ("broken", "expected", "hashes", "last", "pending", "prev")

    def __init__(self) -> None:
        self.expected = 1
        self.last = 0
        self.hashes: dict[int, str] = {}
        self.prev = GENESIS
        self.broken: Break | None = None
        # A record arrived ahead of its seq: a gap, unless the missing seq shows up later.
        self.pending: Break | None = None


def _shape_ok(record: Mapping[str, Any]) -> bool:
    keys = record.keys()
    if keys not in _RECORD_KEYSETS:
        return False
    seq = record["seq"]
    return (
        isinstance(record["chain"], str)
        and isinstance(seq, int)
        and not isinstance(seq, bool)
        and seq >= 1
        and isinstance(record["prev"], str)
        and _HEX64.fullmatch(record["prev"]) is not None
        and isinstance(record["hash"], str)
        and _HEX64.fullmatch(record["hash"]) is not None
    )


def _marker_break(position: int, record: Mapping[str, Any]) -> Break:
    chain, seq = record.get("chain"), record.get("seq")
    chain = chain if isinstance(chain, str) else None
    seq = seq if isinstance(seq, int) and not isinstance(seq, bool) else None
    problem = record.get("problem") if len(record.keys() - {"chain", "seq", "line"}) == 1 else None
    kind, meaning = {"misplaced": MISPLACED, "unreadable": UNREADABLE}.get(str(problem), MALFORMED)
    return Break(position, chain, seq, kind, meaning)


def verify(
    records: Iterable[Mapping[str, Any]],
    checkpoints: Sequence[Mapping[str, Any]] | None = None,
    public_keys: Mapping[str, bytes] | None = None,
    now: float | None = None,
) -> Verdict:
    """Check every chain in ``records`` (storage order), and them against ``checkpoints``.

    Per chain, records must come in seq order 1, 2, 3... each with ``prev``
    equal to the previous ``hash`` and ``hash`` matching its content. The first
    break reported is the one earliest in storage order. Runs in one pass with
    memory per chain (and per checkpoint), not per record. With
    ``checkpoints`` (signed by one of ``public_keys``; ``now`` is the time
    their freshness is judged at), see :func:`.anchor.check`.
    """
    want = anchor.wanted(checkpoints) if checkpoints is not None else {}
    chains: dict[str, _Chain] = {}
    heads: dict[str, tuple[int, str]] = {}
    breaks: list[Break] = []
    grants = GrantLedger()
    count = 0
    for position, record in enumerate(records, 1):
        count = position
        if not isinstance(record, Mapping) or not _shape_ok(record):
            breaks.append(_marker_break(position, record if isinstance(record, Mapping) else {}))
            continue
        name: str = record["chain"]
        seq: int = record["seq"]
        state = chains.get(name)
        if state is None:
            state = chains[name] = _Chain()
        heads[name] = (seq, record["hash"])
        state.last = max(state.last, seq)
        if state.broken is not None:
            gap = state.pending
            if gap is not None and seq == gap.seq:  # the "missing" record was only out of place
                state.broken = Break(gap.position, name, gap.seq, *OUT_OF_ORDER)
                state.pending = None
            continue
        bad: tuple[str, str] | None = None
        shown = seq
        if record_hash(record) != record["hash"]:
            bad = HASH_MISMATCH
        elif seq < state.expected:
            bad = DUPLICATE
        elif seq > state.expected:
            bad, shown = SEQ_GAP, state.expected
        elif record["prev"] != state.prev:
            bad = PREV_MISMATCH
        if bad is None:
            grants.see(position, record)
            state.expected = seq + 1
            state.prev = record["hash"]
            if name in want and seq in want[name]:
                state.hashes[seq] = record["hash"]
            continue
        state.broken = Break(position, name, shown, *bad)
        if bad == SEQ_GAP:
            state.pending = state.broken
    breaks.extend(state.broken for state in chains.values() if state.broken is not None)
    breaks.extend(grants.breaks())
    first = min(breaks, key=lambda b: b.position) if breaks else None
    problems: list[Problem] = []
    if checkpoints is not None:
        views = {
            name: ChainView(
                good=state.expected - 1,
                last=state.last,
                broken=state.broken.seq if state.broken is not None else None,
                hashes=state.hashes,
            )
            for name, state in chains.items()
        }
        problems = anchor.check(
            checkpoints, views, public_keys or {}, time.time() if now is None else now
        )
    return Verdict(
        first is None and not problems,
        len(chains),
        count,
        first,
        heads,
        tuple(problems),
        len(checkpoints) if checkpoints is not None else None,
    )
