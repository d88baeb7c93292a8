"""Compare the field rules of two plans.

Rules are matched by their resolved internal path, not by the key as
written, so quoting or shorthand changes are not changes. A rule without an
exact partner is compared with the rule that covered its path on the other
side (``name`` passed whole, then split into ``name.given`` and
``name.family``): what matters is what each view receives, not how the
mapping spells it. Only a field with no counterpart at all is "added" or
"removed".
"""

from __future__ import annotations

from collections.abc import Iterator

from shimgen.check.plan import Rule, View
from shimgen.check.unions import carried
from shimgen.diagnostics import some_of
from shimgen.diff.inside import carried_changes, inside_path, named_inside
from shimgen.diff.model import Change, Kind
from shimgen.diff.side import Side, view_name
from shimgen.diff.side import field_subject as subject
from shimgen.diff.treat import compare_treatments
from shimgen.diff.unions import union_changes, union_note
from shimgen.schema.model import Path_, format_path


def common_views(old: Side, new: Side) -> list[View]:
    """Views both sides have; a group that exists on one side only is reported as a group."""
    return [g for g in new.plan.groups if g in old.plan.groups] + [None]


def compare_fields(old: Side, new: Side) -> Iterator[Change]:
    """Field changes; the fields one default governs that change alike are one change.

    ``meta: drop`` becoming ``meta: pass`` with an exception changes every
    field the default governs the same way: the reader sees the default's
    change once (naming the fields), and each exception on its own.
    """
    by_path = {
        **{subject(r): r for r in old.plan.rules},
        **{subject(r): r for r in new.plan.rules},
    }
    groups: dict[tuple[object, ...], list[Change]] = {}
    order: list[tuple[object, ...]] = []
    for change in _compare_fields(old, new):
        rule = by_path.get(change.subject)
        parent = rule.parent if rule is not None else None
        key: tuple[object, ...] = (
            (
                parent,
                change.kind,
                change.reason,
                change.old,
                change.new,
                change.views,
                change.in_old,
            )
            if parent is not None
            else (id(change),)
        )
        if key not in groups:
            order.append(key)
        groups.setdefault(key, []).append(change)
    for key in order:
        changes = groups[key]
        first = changes[0]
        rule = by_path.get(first.subject)
        if len(changes) == 1 or rule is None or rule.parent is None:
            yield from changes
            continue
        names = [c.subject.removeprefix("fields.") for c in changes]
        shown = some_of([f"`{n}`" for n in names], 4)
        yield Change(
            first.kind,
            f"fields.{rule.parent}",
            f"{first.reason}; the default of `{rule.parent}` for {len(names)} fields ({shown})",
            first.old,
            first.new,
            first.views,
            first.line,
            first.in_old,
        )


def _compare_fields(old: Side, new: Side) -> Iterator[Change]:
    old_by = {r.internal: r for r in old.plan.rules}
    new_by = {r.internal: r for r in new.plan.rules}
    views = common_views(old, new)
    for path, rule in new_by.items():
        if path in old_by:
            yield from _same_field(old, new, old_by[path], rule, views)
            continue
        cover = _ancestor(path, old_by)
        if cover is not None:
            note = f"was covered by `{format_path(cover.internal)}`"
            yield from _treatments(new, cover, rule, views, rule, note)
            if rule.inbound != cover.inbound:
                yield _inbound(new, rule, opened=rule.inbound)
        elif not _descendants(path, old_by):
            yield _added(new, rule)
        else:
            yield from _merged(new, rule, old_by, views)
    for path, rule in old_by.items():
        if path in new_by:
            continue
        cover = _ancestor(path, new_by)
        if cover is not None:
            note = f"now covered by `{format_path(cover.internal)}`"
            yield from _treatments(new, rule, cover, views, cover, note, subject_rule=rule)
            if cover.inbound != rule.inbound:
                yield _inbound(new, cover, opened=cover.inbound)
        elif not _descendants(path, new_by):
            yield _removed(old, rule)


def _merged(
    new: Side, rule: Rule, old_by: dict[Path_, Rule], views: list[View]
) -> Iterator[Change]:
    """A whole-field copy replacing entries inside it (``name.given``, ``name.family`` ->
    ``name``): each old entry is compared with it, but a field inside the copy
    that no old entry named (the schema gained it in the same change) crosses
    for the first time."""
    copying = tuple(view_name(v) for v in views if rule.treatment(v).definition.copies)
    if not copying:
        return
    top = format_path(rule.internal)
    named = [format_path(p) for p in old_by]

    def related(full: str, q: str) -> bool:
        return any(
            x == y or x.startswith((f"{y}.", f"{y}[]", f"{y}{{}}"))
            for x, y in ((full, q), (q, full))
        )

    inside = carried(rule.in_node)
    unnamed = [p for p in inside if not any(related(inside_path(top, p), q) for q in named)]
    if unnamed:
        reason = (
            f"now copied whole, with {len(unnamed)} field(s) inside that the old mapping "
            f"did not name: {named_inside(unnamed, inside, rule)}"
        )
        yield Change(
            Kind.LOOSENED,
            subject(rule),
            reason,
            None,
            "pass (whole)",
            copying,
            new.line(("fields", rule.key)),
        )


def _ancestor(path: Path_, rules: dict[Path_, Rule]) -> Rule | None:
    for n in range(len(path) - 1, 0, -1):
        if path[:n] in rules:
            return rules[path[:n]]
    return None


def _descendants(path: Path_, rules: dict[Path_, Rule]) -> bool:
    return any(p[: len(path)] == path and len(p) > len(path) for p in rules)


def _treat_line(side: Side, rule: Rule, view: View) -> int:
    if view is not None and view in rule.groups:
        return side.line(("fields", rule.key, "groups", view))
    return side.line(("fields", rule.key, "treat"))


def _treatments(
    new: Side,
    old_rule: Rule,
    new_rule: Rule,
    views: list[View],
    line_rule: Rule,
    note: str = "",
    *,
    subject_rule: Rule | None = None,
) -> Iterator[Change]:
    """Per-view treatment changes; views with the same change are reported once."""
    grouped: dict[tuple[str, str], list[View]] = {}
    for view in views:
        a, b = old_rule.treatment(view), new_rule.treatment(view)
        if a != b:
            grouped.setdefault((str(a), str(b)), []).append(view)
    for (a_text, b_text), affected in grouped.items():
        first = affected[0]
        verdict = compare_treatments(old_rule.treatment(first), new_rule.treatment(first))
        assert verdict is not None
        reason = verdict.reason + (f" ({note})" if note else "")
        if new_rule.sensitive:  # the reviewer weighs a change by what the field is
            reason += f"; the field is {new_rule.levels.shown(new_rule.classification)}"
        if new_rule.treatment(first).name == "pass":
            reason += union_note(new_rule)
        yield Change(
            verdict.kind,
            subject(subject_rule or new_rule),
            reason,
            a_text,
            b_text,
            tuple(view_name(v) for v in affected),
            _treat_line(new, line_rule, first),
        )


def _same_field(old: Side, new: Side, a: Rule, b: Rule, views: list[View]) -> Iterator[Change]:
    yield from _treatments(new, a, b, views, b)
    yield from union_changes(new, a, b, views)
    yield from carried_changes(new, a, b, views)
    where = ("fields", b.key)
    if a.external != b.external:
        yield Change(
            Kind.NEUTRAL,
            subject(b),
            "the external field was renamed; the same data reaches it",
            format_path(a.external),
            format_path(b.external),
            line=new.line((*where, "to")),
        )
    if a.inbound != b.inbound:
        yield _inbound(new, b, opened=b.inbound)
    if a.why != b.why:
        if a.why and not b.why:
            kind, reason = Kind.LOOSENED, "the justification (`why:`) was removed"
        elif not a.why:
            kind, reason = Kind.NEUTRAL, "a justification (`why:`) was added"
        else:
            kind, reason = Kind.NEUTRAL, "the justification (`why:`) was reworded"
        yield Change(kind, subject(b), reason, a.why, b.why, line=new.line((*where, "why")))
    if a.levels.shown(a.classification) != b.levels.shown(b.classification):
        yield _classification(new, a, b)
    a_desc = old.mapping.rule(a.key).description
    b_desc = new.mapping.rule(b.key).description
    if a_desc != b_desc:
        yield Change(
            Kind.NEUTRAL,
            subject(b),
            "the description changed",
            a_desc,
            b_desc,
            line=new.line((*where, "description")),
        )


def _classification(new: Side, a: Rule, b: Rule) -> Change:
    was, now = a.sensitive, b.sensitive
    if was and not now:
        kind = Kind.LOOSENED
        reason = "no longer classified pii/secret, so passing it no longer needs `why:`"
    elif now and not was:
        kind, reason = Kind.TIGHTENED, "now classified pii/secret"
    else:
        kind, reason = Kind.NEUTRAL, "the classification changed"
    return Change(
        kind,
        subject(b),
        reason,
        a.levels.shown(a.classification) or "unclassified",
        b.levels.shown(b.classification) or "unclassified",
        line=new.line_first(("classification", b.key), ("fields", b.key)),
    )


def _inbound(new: Side, rule: Rule, *, opened: bool) -> Change:
    if opened:
        kind, reason = Kind.LOOSENED, "external callers may now send this field in"
    else:
        kind, reason = Kind.TIGHTENED, "external callers may no longer send this field in"
    return Change(
        kind,
        subject(rule),
        reason,
        "inbound" if not opened else "outbound only",
        "inbound" if opened else "outbound only",
        line=new.line(("fields", rule.key, "inbound")),
    )


def exposure(rule: Rule, views: list[View]) -> str:
    """``mask_email (billing, no group); pass (support)``: what each view gets."""
    by: dict[str, list[str]] = {}
    for view in views:
        t = rule.treatment(view)
        if t.emits:
            by.setdefault(str(t), []).append(view_name(view))
    return "; ".join(f"{t} ({', '.join(vs)})" for t, vs in by.items()) or "drop"


def _added(new: Side, rule: Rule) -> Change:
    shown = exposure(rule, new.plan.views)
    line = new.line(("fields", rule.key))
    if shown == "drop":
        reason = "new internal field, dropped in every view"
        return Change(Kind.NEUTRAL, subject(rule), reason, None, "drop", line=line)
    reason = "a new internal field crosses the boundary"
    if any(rule.treatment(v).name == "pass" for v in new.plan.views):
        reason += union_note(rule)
    if rule.inbound:
        reason += " and may be sent in"
    return Change(Kind.LOOSENED, subject(rule), reason, None, shown, line=line)


def _removed(old: Side, rule: Rule) -> Change:
    shown = exposure(rule, old.plan.views)
    line = old.line(("fields", rule.key))
    if shown == "drop":
        reason = "removed; it was dropped in every view"
        return Change(Kind.NEUTRAL, subject(rule), reason, "drop", None, line=line, in_old=True)
    return Change(
        Kind.TIGHTENED,
        subject(rule),
        "the field is gone from the mapping and no longer crosses",
        shown,
        None,
        line=line,
        in_old=True,
    )
