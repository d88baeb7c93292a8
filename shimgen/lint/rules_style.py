"""Style and review-hygiene rules: naming, documentation, ownership, shape.

Warnings in the ``autonomous`` ruleset, errors in ``authoritative``. They keep
mappings readable for the people who review them and the external API
pleasant for the people who call it.
"""

from __future__ import annotations

import itertools
import re
from collections import Counter
from collections.abc import Iterator

from shimgen.lint.facts import (
    field_at,
    last_name,
    placements,
    to_at,
    treat_at,
    views_text,
    views_using,
)
from shimgen.lint.model import Context, Hit
from shimgen.lint.registry import rule
from shimgen.mapping.yamlpos import DataPath
from shimgen.schema.model import (
    ARRAY,
    Path_,
    PathError,
    SchemaNode,
    format_path,
    iter_leaves,
    lookup,
)
from shimgen.suggest import convention
from shimgen.treatments import REGISTRY

CASE_NAMES = {
    "camel": "camelCase",
    "pascal": "PascalCase",
    "snake": "snake_case",
    "kebab": "kebab-case",
}
CASES = {
    "camel": r"^[a-z][a-zA-Z0-9]*$",
    "pascal": r"^[A-Z][a-zA-Z0-9]*$",
    "snake": r"^[a-z][a-z0-9]*(_[a-z0-9]+)*$",
    "kebab": r"^[a-z][a-z0-9]*(-[a-z0-9]+)*$",
}


def _written(ctx: Context) -> Iterator[tuple[Path_, DataPath]]:
    """Every external path the mapping writes, with where it is written (rules, then derived)."""
    for r in ctx.plan.rules:
        if r.out_node is not None:
            yield r.external, to_at(ctx.loaded, r.key)
    for d in ctx.plan.derived:
        yield d.external, ("derived", d.name)


def _prefixes(path: Path_) -> Iterator[Path_]:
    """Each prefix of ``path`` that ends in a field name (``[]`` steps are not fields)."""
    for i, seg in enumerate(path, start=1):
        if seg != ARRAY:
            yield path[:i]


def _written_fields(ctx: Context) -> Iterator[tuple[Path_, DataPath]]:
    """Each external field the mapping writes or nests into, once, where it is first written."""
    seen: set[Path_] = set()
    for path, where in _written(ctx):
        for prefix in _prefixes(path):
            if prefix not in seen:
                seen.add(prefix)
                yield prefix, where


@rule(
    "pii-needs-why",
    description="A pii or secret field that reaches any view, in any form but drop/null/redact, carries `why:`.",
    hint="add `why: <what the receiving group needs it for>`, or drop the field",
    safety=False,
    options={"exempt": [n for n, d in REGISTRY.items() if d.category in ("redacted", "dropped")]},
)
def pii_needs_why(ctx: Context) -> Iterator[Hit]:
    exempt = set(ctx.option("exempt"))
    for r in ctx.plan.rules:
        if r.why or not r.carries_sensitive:
            continue
        reached = [v for v in ctx.plan.views if r.treatment(v).name not in exempt]
        if reached:
            views = views_text(reached, ctx.plan.views)
            forms = sorted({str(r.treatment(v)) for v in reached})
            yield Hit(
                f"{r.levels.shown(r.classification) or 'pii-carrying'} field `{r.label}` reaches {views} "
                f"as {', '.join(f'`{f}`' for f in forms)} without `why:`",
                field_at(r.key),
            )
    sens = {r.internal for r in ctx.plan.rules if r.carries_sensitive}
    for d in ctx.plan.derived:
        if d.why or not any(s in sens for s in d.sources):
            continue
        if any(d.emitted(v) for v in ctx.plan.views):
            yield Hit(
                f"derived field `{d.name}` is computed from pii without `why:`", ("derived", d.name)
            )


PERSONAL_WORDS = [
    "email",
    "mail",
    "phone",
    "telephone",
    "mobile",
    "ssn",
    "birth",
    "birthdate",
    "birthday",
    "dob",
    "address",
    "iban",
    "card",
    "pan",
    "password",
    "passwd",
    "token",
    "secret",
]
"""Name parts that suggest personal data or a credential (`likely-pii-classified`)."""


def name_parts(name: str) -> list[str]:
    """The words of a property name, lowercased: ``homeAddress``, ``home_address`` -> home, address.

    Also each pair of neighbours run together (``e_mail`` -> ``email``, ``birthDate`` ->
    ``birthdate``), so a word split in two is still found.
    """
    words = [w.lower() for w in re.findall(r"[A-Z]+(?![a-z])|[A-Z]?[a-z]+|[0-9]+", name)]
    return words + [a + b for a, b in itertools.pairwise(words)]


def _looks_personal(name: str, node: SchemaNode | None, words: set[str]) -> str | None:
    """Why a field looks like personal data (``format: email``, a name part), or None."""
    if node is not None and node.format in ("email", "idn-email"):
        return f"`format: {node.format}`"
    hit = next((w for w in name_parts(name) if w in words), None)
    return None if hit is None else f"the word `{hit}` in its name"


def _unclassified_inside(node: SchemaNode, words: set[str]) -> Iterator[tuple[Path_, str]]:
    """Unclassified fields under ``node`` (a value passed whole) that look personal: (path, why)."""
    seen: set[int] = set()
    todo: list[tuple[SchemaNode, tuple[str, ...]]] = [(node, ())]
    while todo:  # schema graphs may be cyclic: each node is walked once
        current, path = todo.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        for name, child in current.properties.items():
            if child.classification is not None:
                continue  # classified: the safety rules judge it
            why = _looks_personal(name, child, words)
            if why is not None:
                yield (*path, name), why
            todo.append((child, (*path, name)))
        todo.extend((n, (*path, ARRAY)) for n in (current.items, current.values) if n is not None)
        todo.extend((n, path) for n in current.variants)


@rule(
    "likely-pii-classified",
    description="A field that looks like personal data (`format: email`, or a name part in `words`: "
    "email, phone, ssn, birthdate, address, iban, card, pan, password, token, secret, ...) and has "
    "no classification does not leave as `pass`.",
    hint="classify it (`classification: {FIELD: pii}`, or `secret`) so the safety rules judge it, "
    "or treat it (`mask_email`, `tokenize`, `hash`, `drop`); classify it `internal` or `public` if "
    "it is not personal data",
    safety=False,
    options={"words": PERSONAL_WORDS},
)
def likely_pii_classified(ctx: Context) -> Iterator[Hit]:
    words = {w.lower() for w in ctx.option("words")}
    for r in ctx.plan.rules:
        if r.classification is not None:
            continue  # classified (even `internal` or `public`): the author has decided
        own = _looks_personal(last_name(r.internal), r.in_node, words) or (
            None
            if r.out_node is None
            else _looks_personal(last_name(r.external), r.out_node, words)
        )
        found = (
            [(r.label, own)]
            if own is not None
            else [
                (format_path((*r.internal, *p)), why)
                for p, why in _unclassified_inside(r.in_node, words)
            ]
        )
        if not found:
            continue
        for group, t in placements(r):
            views = views_using(ctx.plan.views, r, group)
            if t.name != "pass" or not views:
                continue
            name, why = found[0]
            more = f" (and {len(found) - 1} more inside)" if len(found) > 1 else ""
            yield Hit(
                f"`{name}` looks like personal data ({why}) but has no classification, and "
                f"leaves as `pass` to {views_text(views, ctx.plan.views)}{more}",
                treat_at(ctx.loaded, r.key, group),
                value=_treat_written(ctx, r.key, group),
            )


def _treat_written(ctx: Context, key: str, group: str | None) -> bool:
    """Whether the treatment at ``treat_at`` is written (a value to point at), not left out."""
    m = ctx.loaded.mapping
    bare = m is not None and isinstance(m.fields.get(key), str)  # `ssn: pass`
    return group is not None or bare or ("fields", key, "treat") in ctx.loaded.positions.keys


@rule(
    "external-field-case",
    description="External field names follow one naming style (`case`: camel, pascal, snake or "
    "kebab; `auto`: the one most of the external schema's names follow).",
    hint="rename the field in the external schema and in `to:`",
    safety=False,
    options={"case": "auto"},
    choices={"case": ("auto", *CASES)},
)
def field_case(ctx: Context) -> Iterator[Hit]:
    case = ctx.option("case")
    whose = ""
    if case == "auto":
        case = dominant_case(ctx.plan.external.root)
        whose = " (the style most of the external schema's names follow; set `case` to choose)"
    for field, where in _written_fields(ctx):
        if not re.match(CASES[case], field[-1]):
            yield Hit(
                f"external field `{format_path(field)}` is not {CASE_NAMES[case]}{whose}",
                where,
                value=where[-1] == "to",
            )


def dominant_case(root: SchemaNode) -> str:
    """The naming style most of the schema's property names follow, camel when none stands out.

    A name counts for the convention ``suggest.convention`` reads in it (the one ``init``
    writes in its comments): ``first_name`` says snake, ``firstName`` camel, and ``id`` or
    ``name``, written alike in several, says nothing. Ties go to the first of ``CASES``.
    """
    case_of = {label: case for case, label in CASE_NAMES.items()}
    names = {segment for leaf in iter_leaves(root) for segment in leaf.path if segment != ARRAY}
    votes = Counter(case_of[label] for name in names if (label := convention(name)))
    return max(CASES, key=lambda case: votes[case])


@rule(
    "external-max-depth",
    description="The external schema nests fields at most `max_depth` levels deep (array steps do not count).",
    hint="flatten the external shape; callers should not dig through deep envelopes",
    safety=False,
    options={"max_depth": 3},
)
def max_depth(ctx: Context) -> Iterator[Hit]:
    limit = ctx.option("max_depth")
    writers = list(_written(ctx))
    seen: set[Path_] = set()
    for leaf in iter_leaves(ctx.plan.external.root):
        names = [s for s in leaf.path if s != ARRAY]
        if len(names) <= limit:
            continue
        cut = next(p for p in _prefixes(leaf.path) if sum(s != ARRAY for s in p) == limit + 1)
        if cut in seen:
            continue
        seen.add(cut)
        where: DataPath = next(
            (w for path, w in writers if path[: len(cut)] == cut), ("external", "schema")
        )
        yield Hit(
            f"external field `{format_path(cut)}` is nested {len(names)} levels deep (at most {limit})",
            where,
            value=True,
        )


@rule(
    "external-field-description",
    description="Every external field the mapping writes (and each object on its path) has a `description` in the external schema.",
    hint="add a `description` to the field in the external schema; it becomes the API documentation",
    safety=False,
)
def field_description(ctx: Context) -> Iterator[Hit]:
    root = ctx.plan.external.root
    for field, where in _written_fields(ctx):
        try:
            node = lookup(root, field)
        except PathError:  # pragma: no cover - the checker resolved every written path
            continue
        if not (node.description or "").strip():
            yield Hit(
                f"external field `{format_path(field)}` has no description",
                where,
                value=where[-1] == "to",
            )


def _words(text: str) -> int:
    return len(text.split())


@rule(
    "group-description",
    description="Every functional group has a description of at least `min_words` words saying what it is for.",
    hint="describe the group's job and what it may see: `support: Customer support - contact details, never payment data`",
    safety=False,
    options={"min_words": 3},
)
def group_description(ctx: Context) -> Iterator[Hit]:
    for name, text in ctx.plan.groups.items():
        if _words(text or "") < ctx.option("min_words") or text.strip().lower() == name:
            yield Hit(
                f"group `{name}` has no meaningful description ({text.strip()!r})",
                ("groups", name),
                value=True,
            )


PLACEHOLDERS = ["todo", "tbd", "fixme", "unknown", "none", "n/a", "nobody", "me", "changeme", "?"]


@rule(
    "owner-present",
    description="`owner:` names a real owning team: not a placeholder, and matching `pattern` when one is set.",
    hint="write the team that answers for this boundary, e.g. `owner: payments-platform`",
    safety=False,
    options={"placeholders": PLACEHOLDERS, "pattern": ""},
)
def owner_present(ctx: Context) -> Iterator[Hit]:
    owner = ctx.plan.owner.strip()
    placeholders = {p.lower() for p in ctx.option("placeholders")}
    pattern = ctx.option("pattern")
    if not owner or owner.lower() in placeholders:
        yield Hit(f"owner {ctx.plan.owner!r} is a placeholder", ("owner",), value=True)
    elif pattern and not re.search(pattern, owner):
        yield Hit(f"owner {owner!r} does not match {pattern!r}", ("owner",), value=True)


@rule(
    "shim-description",
    description="The mapping has a `description:` of at least `min_words` words saying what the boundary is for.",
    hint="add `description:` naming the source system, the consumers and the purpose",
    safety=False,
    options={"min_words": 5},
)
def shim_description(ctx: Context) -> Iterator[Hit]:
    if _words(ctx.plan.description) < ctx.option("min_words"):
        present = ("description",) in ctx.loaded.positions.keys
        yield Hit(
            "the mapping's description is missing"
            if not ctx.plan.description.strip()
            else f"the mapping's description is too short ({ctx.plan.description.strip()!r})",
            ("description",) if present else ("shim",),
            value=present,
        )


@rule(
    "derived-documented",
    description="Every `derived:` field carries `description:` or `why:`.",
    hint="say what the computed field means (`description:`) or why it is exposed (`why:`)",
    safety=False,
)
def derived_documented(ctx: Context) -> Iterator[Hit]:
    m = ctx.loaded.mapping
    if m is None:  # pragma: no cover - lint runs on checked mappings only
        return
    for d in ctx.plan.derived:
        spec = m.derived[d.name]
        if not (spec.description or spec.why):
            yield Hit(
                f"derived field `{d.name}` has neither `description:` nor `why:`",
                ("derived", d.name),
            )
