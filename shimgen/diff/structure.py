"""Compare everything but field rules: groups, derived fields, routes, metadata.

A group, a derived field or a route is loosening when it lets someone see or
call something they could not before; a derived field only exposes internal
data through its ``from:`` sources, so a constant is never loosening.
"""

from __future__ import annotations

from collections.abc import Iterator

from shimgen.check.plan import Derived, Route, ShimPlan, View
from shimgen.diagnostics import some_of
from shimgen.diff.fields import common_views
from shimgen.diff.model import Change, Kind
from shimgen.diff.side import Side, view_name
from shimgen.schema.model import format_path


def _names(items: list[str] | tuple[str, ...] | set[str]) -> str:
    return ", ".join(sorted(items)) or "none"


# -- groups -----------------------------------------------------------------------


def sees(plan: ShimPlan, group: str) -> list[str]:
    """What a group receives or may call: emitted fields, derived fields, routes."""
    out = [format_path(r.external) for r in plan.rules if r.treatment(group).emits]
    out += [d.name for d in plan.derived if d.sources and d.emitted(group)]
    out += [f"{r.method} {r.path}" for r in plan.routes if group in r.groups]
    return out


def _summary(items: list[str], limit: int = 6) -> str:
    return some_of(items, limit)


def compare_groups(old: Side, new: Side) -> Iterator[Change]:
    a, b = old.plan.groups, new.plan.groups
    for name in b.keys() - a.keys():
        seen = sees(new.plan, name)
        line = new.line(("groups", name))
        if seen:
            reason = f"a new group that sees {len(seen)} item(s): {_summary(seen)}"
            if name in new.plan.elevated:
                reason += "; elevated: callers listed for it act in it only under a grant"
            yield Change(Kind.LOOSENED, f"group {name}", reason, None, b[name], line=line)
        else:
            reason = "a new group that sees nothing yet"
            yield Change(Kind.NEUTRAL, f"group {name}", reason, None, b[name], line=line)
    for name in a.keys() - b.keys():
        seen = sees(old.plan, name)
        line = old.line(("groups", name))
        kind = Kind.TIGHTENED if seen else Kind.NEUTRAL
        reason = f"group removed; it saw {_summary(seen)}" if seen else "group removed"
        yield Change(kind, f"group {name}", reason, a[name], None, line=line, in_old=True)
    for name in a.keys() & b.keys():
        if a[name] != b[name]:
            line = new.line(("groups", name))
            reason = "the group's description changed"
            yield Change(Kind.NEUTRAL, f"group {name}", reason, a[name], b[name], line=line)


# -- derived fields -----------------------------------------------------------------


def _sources(d: Derived) -> set[str]:
    return {format_path(s) for s in d.sources}


def _shown(d: Derived) -> str:
    if d.count:
        return f"count of {_names(_sources(d))}"
    return f"from {_names(_sources(d))}" if d.sources else f"const {d.const!r}"


def compare_derived(old: Side, new: Side) -> Iterator[Change]:
    a = {d.name: d for d in old.plan.derived}
    b = {d.name: d for d in new.plan.derived}
    for name in b.keys() - a.keys():
        d = b[name]
        line = new.line(("derived", name))
        shown = _shown(d)
        if d.sources and any(d.emitted(v) for v in new.plan.views):
            reason = "a new derived field built from internal fields"
            yield Change(Kind.LOOSENED, f"derived.{name}", reason, None, shown, line=line)
        else:
            reason = "a new derived field that carries no internal data"
            yield Change(Kind.NEUTRAL, f"derived.{name}", reason, None, shown, line=line)
    for name in a.keys() - b.keys():
        d = a[name]
        line = old.line(("derived", name))
        shown = _shown(d)
        kind = Kind.TIGHTENED if d.sources else Kind.NEUTRAL
        reason = "the derived field is gone"
        yield Change(kind, f"derived.{name}", reason, shown, None, line=line, in_old=True)
    for name in a.keys() & b.keys():
        yield from _same_derived(old, new, a[name], b[name])


def _same_derived(old: Side, new: Side, a: Derived, b: Derived) -> Iterator[Change]:
    subject, where = f"derived.{b.name}", ("derived", b.name)
    gained, lost = _sources(b) - _sources(a), _sources(a) - _sources(b)
    if gained:
        reason = f"now built from {_names(gained)} as well"
        yield Change(
            Kind.LOOSENED,
            subject,
            reason,
            _names(_sources(a)),
            _names(_sources(b)),
            line=new.line((*where, "from")),
        )
    if lost:
        reason = f"no longer built from {_names(lost)}"
        yield Change(
            Kind.TIGHTENED,
            subject,
            reason,
            _names(_sources(a)),
            _names(_sources(b)),
            line=new.line((*where, "from")),
        )
    if a.template != b.template:
        yield Change(
            Kind.NEUTRAL,
            subject,
            "the template changed",
            a.template,
            b.template,
            line=new.line((*where, "template")),
        )
    if a.const != b.const:
        yield Change(
            Kind.NEUTRAL,
            subject,
            "the constant changed",
            repr(a.const),
            repr(b.const),
            line=new.line((*where, "const")),
        )
    if a.external != b.external:
        yield Change(
            Kind.NEUTRAL,
            subject,
            "the external field was renamed",
            format_path(a.external),
            format_path(b.external),
            line=new.line(where),
        )
    yield from _derived_views(new, a, b, common_views(old, new))
    if a.why != b.why:
        kind = Kind.LOOSENED if a.why and not b.why else Kind.NEUTRAL
        reason = (
            "the justification (`why:`) was removed"
            if kind is Kind.LOOSENED
            else ("the justification (`why:`) changed")
        )
        yield Change(kind, subject, reason, a.why, b.why, line=new.line((*where, "why")))
    a_desc = old.mapping.derived[a.name].description
    b_desc = new.mapping.derived[b.name].description
    if a_desc != b_desc:
        yield Change(
            Kind.NEUTRAL,
            subject,
            "the description changed",
            a_desc,
            b_desc,
            line=new.line((*where, "description")),
        )


def _derived_views(new: Side, a: Derived, b: Derived, views: list[View]) -> Iterator[Change]:
    opened = tuple(view_name(v) for v in views if b.emitted(v) and not a.emitted(v))
    closed = tuple(view_name(v) for v in views if a.emitted(v) and not b.emitted(v))
    line = new.line(("derived", b.name, "groups"))
    if opened:
        kind = Kind.LOOSENED if b.sources else Kind.NEUTRAL
        yield Change(
            kind, f"derived.{b.name}", "now emitted to more groups", "drop", "pass", opened, line
        )
    if closed:
        kind = Kind.TIGHTENED if a.sources else Kind.NEUTRAL
        yield Change(
            kind,
            f"derived.{b.name}",
            "no longer emitted to these groups",
            "pass",
            "drop",
            closed,
            line,
        )


# -- routes -------------------------------------------------------------------------


def _route_key(r: Route) -> str:
    return f"{r.method} {r.path}"


def _route_access(r: Route) -> str:
    """Who may call a route and what it forwards: ``groups billing, support; query expand``."""
    query = f"; query {_names(r.query)}" if r.query else ""
    return f"groups {_names(r.groups)}{query}"


def compare_routes(old: Side, new: Side) -> Iterator[Change]:
    a = {_route_key(r): (i, r) for i, r in enumerate(old.plan.routes)}
    b = {_route_key(r): (i, r) for i, r in enumerate(new.plan.routes)}
    for key in sorted(b.keys() - a.keys()):
        i, r = b[key]
        reason = f"a new proxy route to {r.internal_method} {r.internal_path}"
        if r.has_body:
            reason += "; its body carries the inbound fields in"
        yield Change(
            Kind.LOOSENED,
            f"route {key}",
            reason,
            None,
            _route_access(r),
            line=new.line(("routes", i)),
        )
    for key in sorted(a.keys() - b.keys()):
        i, r = a[key]
        yield Change(
            Kind.TIGHTENED,
            f"route {key}",
            "the route is gone",
            _route_access(r),
            None,
            line=old.line(("routes", i)),
            in_old=True,
        )
    for key in sorted(a.keys() & b.keys()):
        yield from _same_route(new, a[key][1], b[key][0], b[key][1])


def _same_route(new: Side, a: Route, i: int, b: Route) -> Iterator[Change]:
    subject, where = f"route {_route_key(b)}", ("routes", i)
    for attr, label in (("groups", "group"), ("query", "query parameter")):
        old_set, new_set = set(getattr(a, attr)), set(getattr(b, attr))
        line = new.line((*where, attr))
        if new_set - old_set:
            yield Change(
                Kind.LOOSENED,
                subject,
                f"{label}(s) added: {_names(new_set - old_set)}",
                _names(old_set),
                _names(new_set),
                line=line,
            )
        if old_set - new_set:
            yield Change(
                Kind.TIGHTENED,
                subject,
                f"{label}(s) removed: {_names(old_set - new_set)}",
                _names(old_set),
                _names(new_set),
                line=line,
            )
    old_target = f"{a.internal_method} {a.internal_path}"
    new_target = f"{b.internal_method} {b.internal_path}"
    if old_target != new_target:
        reason = "now forwards to another internal endpoint; review what it returns"
        yield Change(
            Kind.NEUTRAL,
            subject,
            reason,
            old_target,
            new_target,
            line=new.line((*where, "internal")),
        )


# -- metadata -----------------------------------------------------------------------


def compare_meta(old: Side, new: Side) -> Iterator[Change]:
    a, b = old.mapping, new.mapping
    simple = (
        ("shim", a.shim, b.shim, "the shim was renamed"),
        ("owner", a.owner, b.owner, "the owning team changed"),
        ("description", a.description, b.description, "the description changed"),
    )
    for key, x, y, reason in simple:
        if x != y:
            yield Change(Kind.NEUTRAL, key, reason, x, y, line=new.line((key,)))
    for side in ("internal", "external"):
        x_ref, y_ref = getattr(a, side), getattr(b, side)
        x = f"{x_ref.schema_}#{x_ref.model or ''}"
        y = f"{y_ref.schema_}#{y_ref.model or ''}"
        if x != y:
            reason = f"the {side} schema reference changed; field changes are listed one by one"
            yield Change(Kind.NEUTRAL, side, reason, x, y, line=new.line((side,)))
    up_a, up_b = old.plan.upstream, new.plan.upstream
    if up_a != up_b:
        up_x = f"{up_a.url_env}, timeout {up_a.timeout}" if up_a else None
        up_y = f"{up_b.url_env}, timeout {up_b.timeout}" if up_b else None
        reason = "the upstream changed; routes are listed one by one"
        yield Change(
            Kind.NEUTRAL,
            "upstream",
            reason,
            up_x,
            up_y,
            line=new.line(("upstream",)) if up_b else old.line(("upstream",)),
            in_old=up_b is None,
        )
