"""What a diff is made of: classified changes and the version verdict.

A reviewer reads a diff to answer one question first: does this change let
more data cross the boundary? So every change carries exactly one
:class:`Kind`, and the result knows whether a loosening came with a version
bump (the exit code of ``shimgen diff`` depends on nothing else).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field


class Kind(enum.StrEnum):
    """How a change moves the boundary. The order is the order of the report."""

    LOOSENED = "loosened"  # more exposure: more data, more callers, less justification
    TIGHTENED = "tightened"  # less exposure
    NEUTRAL = "neutral"  # renames, descriptions, changes that reveal neither more nor less

    @property
    def order(self) -> int:
        return list(Kind).index(self)


@dataclass(frozen=True)
class Change:
    """One classified difference between two mappings.

    ``subject`` names the thing in mapping terms (``fields.email``,
    ``group billing``, ``route GET /customers/{customerId}``); ``views`` lists
    the functional groups it affects ("no group" for requests made in none),
    empty when views do not apply. ``line`` points into NEW, or into OLD for
    something that was removed (``in_old``).
    """

    kind: Kind
    subject: str
    reason: str
    old: str | None = None
    new: str | None = None
    views: tuple[str, ...] = ()
    line: int | None = None
    in_old: bool = False

    def sort_key(self) -> tuple[int, str, tuple[str, ...]]:
        return (self.kind.order, self.subject, self.views)


@dataclass
class DiffResult:
    """Both sides' identity and every change, loosened first."""

    old_label: str
    new_label: str
    name: str
    old_version: int
    new_version: int
    changes: list[Change] = field(default_factory=list)

    def sorted(self) -> list[Change]:
        return sorted(self.changes, key=Change.sort_key)

    def of(self, kind: Kind) -> list[Change]:
        return [c for c in self.sorted() if c.kind is kind]

    @property
    def loosened(self) -> list[Change]:
        return self.of(Kind.LOOSENED)

    @property
    def bumped(self) -> bool:
        return self.new_version > self.old_version

    @property
    def exit_code(self) -> int:
        """1 when something loosened and the version was not raised; else 0."""
        return 1 if self.loosened and not self.bumped else 0

    def counts(self) -> dict[Kind, int]:
        return {kind: len(self.of(kind)) for kind in Kind}

    def verdict(self) -> str:
        """The headline: ``2 loosened, version 3 → 4``."""
        counts = self.counts()
        parts = [f"{n} {kind}" for kind, n in counts.items() if n]
        summary = ", ".join(parts) if parts else "no changes"
        if self.old_version == self.new_version:
            version = f"version {self.new_version} (not bumped)"
        else:
            version = f"version {self.old_version} → {self.new_version}"
            if not self.bumped:
                version += " (lowered)"
        return f"{summary}, {version}"

    def status(self) -> str:
        """One sentence that says what the exit code means."""
        if not self.loosened:
            return "ok: nothing is loosened"
        if self.bumped:
            return "ok: loosened, and the version was bumped; review the loosened changes"
        return (
            "FAIL: loosened without a version bump; raise `version:` "
            f"above {self.old_version} and have the loosened changes reviewed"
        )
