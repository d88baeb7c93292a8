"""Safety rules: what may cross the boundary, and in what form.

These stay errors in the ``autonomous`` ruleset. They are stricter than the
checker on purpose: ``shimgen check`` accepts any mapping that is coherent,
while these rules encode what a security reviewer would refuse to sign.
"""

from __future__ import annotations

from collections.abc import Iterator

from shimgen.check.plan import Rule
from shimgen.diagnostics import some_of
from shimgen.lint.facts import (
    is_subtree,
    last_name,
    matches,
    placements,
    treat_at,
    view_name,
    views_text,
    views_using,
)
from shimgen.lint.model import Context, Hit
from shimgen.lint.registry import rule
from shimgen.schema.model import format_path
from shimgen.treatments import hiding_names

ID_PATTERN = r"(^id$|_id$|[a-z0-9]Id$|ID$)"
"""Internal field names that are identifiers: ``id``, ``customer_id``, ``customerId``."""


@rule(
    "secret-strict-treatment",
    description="A secret field may only be dropped, hashed or tokenized (or nulled/redacted) in every view, and no derived template copies it.",
    hint="treat it with drop, hash or tokenize (a partial reveal such as last4 or mask still leaks part of a secret); if the schema over-classifies it, override under `classification:`",
    safety=True,
    options={"allowed": hiding_names()},
)
def secret_strict(ctx: Context) -> Iterator[Hit]:
    allowed = set(ctx.option("allowed"))
    for r in ctx.plan.rules:
        if r.level != "secret":
            continue
        for group, t in placements(r):
            views = views_using(ctx.plan.views, r, group)
            if t.name not in allowed and views:
                yield Hit(
                    f"{_level(r)} field `{r.label}` reaches {views_text(views, ctx.plan.views)} as `{t}`",
                    treat_at(ctx.loaded, r.key, group),
                    value=True,
                )
    secret = {r.internal for r in ctx.plan.rules if r.level == "secret"}
    for d in ctx.plan.derived:
        used = [s for s in d.sources if s in secret]
        if used and d.template is not None and any(d.emitted(v) for v in ctx.plan.views):
            yield Hit(
                f"derived field `{d.name}` copies the secret field `{format_path(used[0])}` into its template",
                ("derived", d.name),
                hint="derive it from non-secret fields, or drop it",
            )


@rule(
    "secret-views-elevated",
    description="A group whose view reveals a secret field (anything but drop, hash, tokenize, null or redact) is an elevated group, held only under an expiring, approved grant.",
    hint="make the group elevated (`groups: {NAME: {description: ..., elevated: {max_duration: 4h, approvals: 1, approvers: [...]}}}`), or hide the field from it",
    safety=False,
    authoritative_only=True,
    options={"allowed": hiding_names()},
)
def secret_views_elevated(ctx: Context) -> Iterator[Hit]:
    allowed = set(ctx.option("allowed"))
    for r in ctx.plan.rules:
        if r.level != "secret":
            continue
        for group, t in placements(r):
            views = [
                v
                for v in views_using(ctx.plan.views, r, group)
                if v not in ctx.plan.elevated and t.name not in allowed
            ]
            if views:
                yield Hit(
                    f"{_level(r)} field `{r.label}` is revealed as `{t}` to "
                    f"{views_text(views, ctx.plan.views)}, which is not elevated",
                    treat_at(ctx.loaded, r.key, group),
                    value=True,
                )


@rule(
    "no-view-exposes-all-pii",
    description="No single view (functional group or no group) exposes every pii/secret field of the mapping.",
    hint="split the group by function, or drop, hash or tokenize the fields this group does not need",
    safety=True,
    options={"min_fields": 2, "not_exposing": hiding_names()},
)
def no_view_exposes_all(ctx: Context) -> Iterator[Hit]:
    safe = set(ctx.option("not_exposing"))
    pii = [r for r in ctx.plan.rules if r.carries_sensitive]
    if len(pii) < ctx.option("min_fields"):
        return
    for view in ctx.plan.views:
        if all(r.treatment(view).name not in safe for r in pii):
            where = ("groups", view) if view is not None else ("fields",)
            yield Hit(
                f"{view_name(view)} exposes all {len(pii)} pii/secret fields "
                f"({', '.join(r.label for r in pii)})",
                where,
            )


@rule(
    "inbound-tokenized-or-writable",
    description="`inbound: true` only on tokenized ids or on fields declared writable (`why:` or the `writable` option; never readOnly).",
    hint="tokenize identifiers; for other fields say in `why:` why callers may change them, or remove `inbound: true`",
    safety=True,
    options={"id_pattern": ID_PATTERN, "writable": []},
)
def inbound_declared(ctx: Context) -> Iterator[Hit]:
    writable = set(ctx.option("writable"))
    for r in ctx.plan.rules:
        if not r.inbound or r.treat.definition.category == "tokenized":
            continue
        where = ("fields", r.key, "inbound")
        names = (last_name(r.internal), last_name(r.external))
        if any(matches(ctx.option("id_pattern"), n) for n in names):
            yield Hit(
                f"identifier `{r.label}` is inbound as `{r.treat}`; internal ids come back only as tokens",
                where,
                hint="use `treat: tokenize` for identifiers that callers send back",
            )
        elif r.in_node.read_only or (r.out_node is not None and r.out_node.read_only):
            yield Hit(f"`{r.label}` is inbound but its schema marks it readOnly", where)
        elif not r.why and r.key not in writable and r.label not in writable:
            yield Hit(f"`{r.label}` is inbound but not declared writable (no `why:`)", where)


@rule(
    "no-pass-on-pii-subtree",
    description="No catch-all `pass` of an object/array/map subtree that contains pii or secret fields "
    "(a parent `pass` with more specific entries inside is still a catch-all for every other field).",
    hint="map the subtree's fields one by one so each pii field gets its own treatment",
    safety=True,
)
def no_subtree_pass(ctx: Context) -> Iterator[Hit]:
    for r in ctx.plan.entries:  # as written: a default is judged on what it governs
        if not is_subtree(r.in_node) or not r.carries_sensitive:
            continue
        for group, t in placements(r):
            views = views_using(ctx.plan.views, r, group)
            if not t.definition.copies or not views:
                continue
            to = views_text(views, ctx.plan.views)
            if r.is_default:
                inside = [s.label for s in r.remainder if s.carries_sensitive]
                message = (
                    f"`{r.key}` ({r.in_node.describe()}) passes every field under it but "
                    f"{', '.join(f'`{e}`' for e in r.exceptions)} to {to}, and pii is among "
                    f"them ({some_of([f'`{i}`' for i in inside], 3)})"
                )
            else:
                message = (
                    f"`{r.key}` ({r.in_node.describe()}) has pii inside and passes whole to {to}"
                )
            yield Hit(message, treat_at(ctx.loaded, r.key, group), value=True)


@rule(
    "mask-max-kept",
    description="A `mask` keeps at most `max_kept` characters in clear (keep_first + keep_last).",
    hint="keep fewer characters, e.g. `{mask: {keep_last: 4}}`",
    safety=True,
    options={"max_kept": 4},
)
def mask_max_kept(ctx: Context) -> Iterator[Hit]:
    limit = ctx.option("max_kept")
    for r in ctx.plan.entries:  # a default's treatment once, not once per field it governs
        for group, t in placements(r):
            if t.name != "mask" or not views_using(ctx.plan.views, r, group):
                continue
            kept = t.reveals or 0
            if kept > limit:
                yield Hit(
                    f"mask of `{r.key}` keeps {kept} characters in clear (at most {limit})",
                    treat_at(ctx.loaded, r.key, group),
                    value=True,
                )


@rule(
    "internal-ids-tokenized",
    description="Internal identifiers leave only as tokens (or hashes): never as `pass` or a partial reveal.",
    hint="use `treat: tokenize` (reversible by the shim) or `hash` (one-way)",
    safety=True,
    options={"id_pattern": ID_PATTERN, "allowed": hiding_names()},
)
def ids_tokenized(ctx: Context) -> Iterator[Hit]:
    allowed = set(ctx.option("allowed"))
    for r in ctx.plan.rules:
        if not matches(ctx.option("id_pattern"), last_name(r.internal)):
            continue
        for group, t in placements(r):
            views = views_using(ctx.plan.views, r, group)
            if t.name not in allowed and views:
                yield Hit(
                    f"internal identifier `{r.label}` leaves as `{t}` to {views_text(views, ctx.plan.views)}",
                    treat_at(ctx.loaded, r.key, group),
                    value=True,
                )
    for d in ctx.plan.derived:
        ids = [s for s in d.sources if matches(ctx.option("id_pattern"), last_name(s))]
        if ids and d.template is not None and any(d.emitted(v) for v in ctx.plan.views):
            yield Hit(
                f"derived field `{d.name}` copies the identifier `{format_path(ids[0])}`",
                ("derived", d.name),
            )


RANKS = ["admin", "administrator", "superuser", "root", "all", "everyone", "full", "god", "master"]


@rule(
    "functional-group-names",
    description="Groups are named for a function (`support`, `billing`), never a rank (`admin`, `all`).",
    hint="name the group for the job its callers do, and give it only that job's view",
    safety=True,
    options={"forbidden": RANKS},
)
def functional_groups(ctx: Context) -> Iterator[Hit]:
    forbidden = {w.lower() for w in ctx.option("forbidden")}
    for name in ctx.plan.groups:
        words = set(name.split("-"))
        bad = sorted(words & forbidden)
        if bad:
            yield Hit(
                f"group `{name}` is named for a rank (`{bad[0]}`), not a function", ("groups", name)
            )


def _level(r: Rule) -> str:
    """``secret`` or ``restricted (secret)`` for a declared level."""
    return r.levels.shown(r.classification) or "secret"


@rule(
    "elevation-approvers-not-peers",
    description="An elevated group is not approved by the standing group its holders act in every day (its `beyond`): colleagues who take turns would approve each other.",
    hint="name an approver group its holders do not belong to (a lead or an owning team), or leave the beyond group out of approvers",
    safety=False,
    authoritative_only=True,
)
def approvers_not_peers(ctx: Context) -> Iterator[Hit]:
    for group, e in ctx.plan.elevated.items():
        if e.beyond is not None and e.beyond in e.approvers:
            yield Hit(
                f"`{group}` is approved by `{e.beyond}`, the group its holders act in every day "
                f"(beyond): its eligible callers can approve each other's grants",
                ("groups", group, "elevated", "approvers", e.approvers.index(e.beyond)),
                value=True,
            )
