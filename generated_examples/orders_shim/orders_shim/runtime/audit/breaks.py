"""Where a chain, or what the chain allowed, first fails to hold (``audit verify``)."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Break"]


@dataclass(frozen=True, slots=True)
class Break:
    """Where a chain first fails to hold, and why.

    ``position`` is the record's place in storage order (1-based; the line for
    JSON lines). ``seq`` is the first seq at which the chain breaks, e.g. the
    missing one for a deleted record. ``chain`` and ``seq`` are None when the
    record is too damaged to name them.
    """

    position: int
    chain: str | None
    seq: int | None
    kind: str
    meaning: str

    @property
    def reason(self) -> str:
        """``"hash mismatch: record edited"`` and the like."""
        return f"{self.kind}: {self.meaning}"

    def __str__(self) -> str:
        where = (
            f"chain {self.chain} seq {self.seq}"
            if self.chain is not None and self.seq is not None
            else f"record #{self.position}"
        )
        return f"{where}: {self.meaning} ({self.kind})"
