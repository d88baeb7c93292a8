"""Elevated groups (rotational access): how the mapping says an elevated group is held.

A group the mapping marks ``elevated`` is not a standing membership: callers
listed for it (callers file, JWT groups claim) are only *eligible*, and act in
it only under an active grant, requested with a reason, approved by others,
capped in duration and holders, revocable and expired on every request. The
generator computes one :class:`ElevatedSpec` per elevated group and renders
them into ``app.py`` (``ShimSpec.elevated``); nothing reads the mapping at run
time.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

__all__ = ["ElevatedSpec", "beyond_groups"]


@dataclass(frozen=True, slots=True)
class ElevatedSpec:
    """The rules of one elevated group, as the mapping states them.

    ``excludes`` is symmetric already (the generator closes it): a caller never
    has an active grant for this group while acting in, or holding, one of them.
    ``break_glass_seconds`` is None when the group has no emergency access.
    ``beyond`` is the standing group the review compared this group's view with
    (the mapping's ``beyond:``; None: the view of no group). Every caller eligible
    for this group must be listed for it too (:func:`beyond_groups`).
    """

    max_seconds: int  # longest grant that may be asked for
    approvals: int  # distinct approvers needed, the requester never among them
    approvers: frozenset[str]  # groups whose members may approve or deny a request
    max_holders: int | None = None  # active grants at once, over all callers; None: no cap
    excludes: frozenset[str] = frozenset()
    break_glass_seconds: int | None = None
    beyond: str | None = None


def beyond_groups(elevated: Mapping[str, ElevatedSpec]) -> dict[str, str]:
    """Elevated group -> the standing group every caller eligible for it must also be listed for.

    ``shimgen review`` shows approvers only what a grant reveals beyond the
    ``beyond`` group, on the word of the mapping that its holders act there every
    day. For a caller eligible for the elevated group but not listed for that
    group the approved table understates what the grant exposes, so the callers
    file is refused at start-up (:mod:`.callers`) rather than trusted.
    """
    return {group: e.beyond for group, e in elevated.items() if e.beyond is not None}
