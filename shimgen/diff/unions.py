"""What a schema change does to a union that a mapping passes whole.

The mapping line can stay ``default_source: pass`` while the schema under it
gains a branch: every value of the new branch then crosses too (its declared
fields). ``diff`` reports that as loosening, and a branch that went away as
tightening, for each union the copy goes through.
"""

from __future__ import annotations

from collections.abc import Iterator

from shimgen.check.plan import Rule, View
from shimgen.check.unions import Dispatch, copied_unions, dispatch, label
from shimgen.diff.model import Change, Kind
from shimgen.diff.side import Side, field_subject
from shimgen.schema.model import Kind as SchemaKind


def branches_copied(rule: Rule) -> dict[str, tuple[str, ...]]:
    """Union location in the copy -> its branch names, for a rule's internal node."""
    out: dict[str, tuple[str, ...]] = {}
    for at, node in copied_unions(rule.in_node):
        d = dispatch(node)
        if isinstance(d, Dispatch):
            out[at] = tuple(label(b) for b in d.branches)
    return out


def union_changes(new: Side, a: Rule, b: Rule, views: list[View]) -> Iterator[Change]:
    """Branches gained or lost by the unions a ``pass`` of ``b`` copies."""
    if not any(b.treatment(v).name == "pass" for v in views):
        return
    before, after = branches_copied(a), branches_copied(b)
    for at, now in after.items():
        was = before.get(at, ())
        where = f" at `{at}`" if at else ""
        gained = [x for x in now if x not in was]
        lost = [x for x in was if x not in now]
        line = new.line(("fields", b.key))
        subject = field_subject(b)
        if gained and was:
            yield Change(
                Kind.LOOSENED,
                subject,
                f"the union{where} gained branch {', '.join(gained)}; `pass` copies its declared fields too",
                ", ".join(was),
                ", ".join(now),
                line=line,
            )
        if lost and now:
            yield Change(
                Kind.TIGHTENED,
                subject,
                f"the union{where} lost branch {', '.join(lost)}; values of it are now refused",
                ", ".join(was),
                ", ".join(now),
                line=line,
            )


def union_note(rule: Rule) -> str:
    """`` (a union copied branch by branch: card, bank_account)`` for a new passed field."""
    if rule.in_node.kind is not SchemaKind.UNION:
        return ""
    d = dispatch(rule.in_node)
    if not isinstance(d, Dispatch):
        return ""
    return f" (a union copied branch by branch: {', '.join(label(x) for x in d.branches)})"
