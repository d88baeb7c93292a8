"""Resolve a loaded mapping against its schemas into a :class:`ShimPlan`.

Each rule is resolved on its own and every problem becomes a finding; a rule
with errors is left out of the plan so later checks do not pile up noise.
The whole-plan checks (coverage, targets, required fields) live in
``shimgen.check.coverage``.
"""

from __future__ import annotations

import string

from shimgen.check.classify import Classifier
from shimgen.check.plan import Derived, Rule, array_depth
from shimgen.check.report import Report
from shimgen.check.specific import default_to, enclosing
from shimgen.check.types import applicable, treatment_fit
from shimgen.diagnostics import Code, some_of
from shimgen.mapping.levels import Levels
from shimgen.mapping.model import DerivedRule, Mapping, SchemaRef
from shimgen.schema.loader import SchemaError, load_schema
from shimgen.schema.model import (
    ARRAY,
    SCALARS,
    Kind,
    LoadedSchema,
    Path_,
    PathError,
    SchemaNode,
    format_path,
    lookup,
    parse_path,
)
from shimgen.schema.pathsyntax import PathSyntaxError
from shimgen.treatments import Treatment, TreatmentError, parse_treatment
from shimgen.treatments.fit import Promise, constraint_fit


class Resolver:
    """Resolves each rule on its own, reporting every problem to the run's one :class:`Report`."""

    def __init__(self, report: Report, mapping: Mapping) -> None:
        self.report = report
        self.lm = report.loaded
        self.m = mapping
        self.error = report.error
        self.mapped: dict[tuple[str, ...], str] = {}  # every internal path the mapping names
        self.classes = Classifier(self.lm, mapping, self.error)
        self.keys: dict[Path_, str] = {}  # every field key that parses, by path
        for key in mapping.fields:
            try:
                self.keys[parse_path(key)] = key
            except ValueError:
                continue
        self.inner = enclosing(self.keys)  # entries at these paths are defaults

    @property
    def levels(self) -> Levels:
        return self.classes.levels

    # -- schemas ---------------------------------------------------------------

    def load_side(self, side: str, ref: SchemaRef) -> LoadedSchema | None:
        path = (self.lm.path.parent / ref.schema_).resolve()
        try:
            return load_schema(path, ref.model)
        except SchemaError as exc:
            self.report.unreadable |= not path.is_file()  # exit 2: nothing to read
            self.error(
                Code.SCHEMA_UNREADABLE,
                f"{side} schema: {exc.located()}",
                (side, "schema"),
                exc.hint,
                value=True,
            )
            return None

    # -- rules -------------------------------------------------------------------

    def treatment(self, spec: object, where: tuple[str | int, ...]) -> Treatment | None:
        try:
            return parse_treatment(spec)  # type: ignore[arg-type]
        except TreatmentError as exc:
            self.error(Code.BAD_TREATMENT, exc.message, where, exc.hint, value=True)
            return None

    def path(
        self,
        text: str,
        root: SchemaNode,
        where: tuple[str | int, ...],
        side: str,
        code: Code | None = None,
    ) -> tuple[tuple[str, ...], SchemaNode] | None:
        code = code or (Code.UNKNOWN_INTERNAL if side == "internal" else Code.UNKNOWN_EXTERNAL)
        try:
            segs = parse_path(text)
        except PathSyntaxError as exc:
            # the text is the key itself, or a value (`to:`, an item of `from:`)
            is_value = isinstance(where[-1], int) or where[-1] == "to"
            self.error(code, exc.message, where, exc.hint, value=is_value, offset=exc.offset)
            return None
        return self.find(segs, root, where, side, code)

    def find(
        self,
        segs: Path_,
        root: SchemaNode,
        where: tuple[str | int, ...],
        side: str,
        code: Code | None = None,
    ) -> tuple[Path_, SchemaNode] | None:
        code = code or (Code.UNKNOWN_INTERNAL if side == "internal" else Code.UNKNOWN_EXTERNAL)
        try:
            return segs, lookup(root, segs)
        except PathError as exc:
            kind = Code.UNION_PATH if exc.code == "union-path" else code
            self.error(kind, f"{side} {exc.message}", where, exc.hint, value=side == "external")
            return None

    def rule(self, key: str, internal: LoadedSchema, external: LoadedSchema) -> Rule | None:
        spec = self.m.rule(key)
        where: tuple[str | int, ...] = ("fields", key)
        found = self.path(key, internal.root, where, "internal")
        if found is not None:
            first = self.mapped.get(found[0])
            if first is not None:  # `email` and `"email"` spell one field
                line = self.lm.at(("fields", first)).line
                self.error(
                    Code.DUPLICATE_KEY,
                    f"`{key}` names the same field as `{first}` (line {line})",
                    where,
                    "keep one entry for the field",
                )
                return None
            self.mapped[found[0]] = key
        treat_at = (*where, "treat") if "treat" in spec.model_fields_set else where
        treat = self.treatment(spec.treat, treat_at)
        groups: dict[str, Treatment] = {}
        for group, gspec in spec.groups.items():
            if group not in self.m.groups:
                self.error(
                    Code.UNDECLARED_GROUP,
                    f"group `{group}` is not declared",
                    (*where, "groups", group),
                    f"add it under `groups:` with a description, or use one of: {', '.join(self.m.groups) or 'none declared'}",
                )
                continue
            parsed = self.treatment(gspec, (*where, "groups", group))
            if parsed is not None:
                groups[group] = parsed
        if found is None or treat is None:
            return None
        in_path, in_node = found
        classification = self.classes.of(internal.root, in_path)
        treatments = [treat, *groups.values()]
        emits = any(t.emits for t in treatments)
        out_path, out_node = in_path, None
        if emits:
            to_where = (*where, "to") if spec.to is not None else where
            if spec.to is not None:
                target = self.path(spec.to, external.root, to_where, "external")
            else:
                to = default_to(self.m, self.keys, in_path)
                target = self.find(to, external.root, to_where, "external")
            if target is None:
                return None
            out_path, out_node = target
        rule = Rule(
            key,
            in_path,
            out_path,
            treat,
            groups,
            spec.inbound,
            spec.why,
            classification,
            in_node,
            out_node,
            self.levels,
        )
        if in_path in self.inner:
            return rule  # a default: its remainder is checked field by field (``specific``)
        # kept even with findings: whole-mapping checks still see its target
        self.check_rule(rule, where, treat_at)
        return rule

    def check_rule(
        self, rule: Rule, where: tuple[str | int, ...], treat_at: tuple[str | int, ...]
    ) -> None:
        """Per-rule checks for every distinct treatment the rule's views use."""
        variants = {str(t): (t, g) for g, t in [(None, rule.treat), *rule.groups.items()]}
        for t, group in variants.values():
            at = treat_at if group is None else (*where, "groups", group)
            reason = applicable(t, rule.in_node)
            if reason:
                self.error(
                    Code.NOT_APPLICABLE,
                    reason,
                    at,
                    "give the union a discriminator, or drop, null or redact it (docs/unions.md)"
                    if t.name == "pass"  # pass applies to every type but an undecidable union
                    else "pick a treatment from the catalogue that fits this type",
                )
                continue
            if t.name == "map" and rule.in_node.enum is not None:
                missing = [v for v in rule.in_node.enum if v not in t.table]
                if missing:
                    self.error(
                        Code.MAP_INCOMPLETE,
                        (
                            f"internal enum value {missing[0]!r} has no entry in `map:`"
                            if len(missing) == 1
                            else f"internal enum values {some_of([repr(v) for v in missing], 3)} "
                            "have no entry in `map:`"
                        ),
                        at,
                        f"add `{missing[0]}: <external value>` to the map",
                    )
            if not t.emits or rule.out_node is None:
                continue
            if array_depth(rule.internal) != array_depth(rule.external):
                self.error(
                    Code.ARRAY_SHAPE,
                    f"`{rule.label}` crosses {array_depth(rule.internal)} array level(s) "
                    f"but its target crosses {array_depth(rule.external)}",
                    where,
                    "use `[]` at the same depth on both sides (`cards[].number` -> `methods[].last4`)",
                )
                return
            reason = treatment_fit(t, rule.in_node, rule.out_node)
            if reason:
                self.error(
                    Code.TYPE_MISMATCH,
                    f"`{rule.label}` -> `{format_path(rule.external)}`: {reason}",
                    at,
                    _mismatch_hint(t, rule.in_node, rule.out_node, format_path(rule.external)),
                )
            if t.definition.copies and rule.carries_sensitive and not rule.why:
                view = f"group `{group}`" if group else "the default view"
                self.error(
                    Code.MISSING_WHY,
                    f"{rule.levels.shown(rule.classification) or 'pii'} field `{rule.label}` "
                    f"reaches {view} as `pass`"
                    " without `why:`",
                    at,
                    "add `why: <reason this group needs the raw value>`, or mask it",
                )
        if rule.inbound:
            if not rule.treat.reversible:
                self.error(
                    Code.IRREVERSIBLE_INBOUND,
                    f"`{rule.label}` is inbound but `{rule.treat.name}` cannot be reversed",
                    (*where, "inbound"),
                    "inbound works with pass, tokenize or a one-to-one map",
                )
            elif rule.in_node.kind not in SCALARS and not _scalar_array(rule.in_node):
                self.error(
                    Code.IRREVERSIBLE_INBOUND,
                    f"`{rule.label}` is {rule.in_node.describe()}; only scalar fields "
                    "(or arrays of scalars) can be inbound",
                    (*where, "inbound"),
                    "mark the leaf fields inbound instead",
                )

    # -- derived ---------------------------------------------------------------

    def derived(
        self, name: str, spec: DerivedRule, internal: LoadedSchema, external: LoadedSchema
    ) -> Derived | None:
        where: tuple[str | int, ...] = ("derived", name)
        target = self.path(name, external.root, where, "external")
        has_const = "const" in spec.model_fields_set
        kinds = [has_const, spec.template is not None, spec.count is not None]
        if kinds.count(True) != 1:
            self.error(
                Code.BAD_DERIVED,
                f"derived `{name}` needs exactly one of `template:`, `const:` or `count:`",
                where,
                'write `{from: [a, b], template: "{0} {1}"}`, `{const: eu}` or `{count: items}`',
            )
            return None
        if spec.count is not None:
            return self.derived_count(name, spec, internal, external, target)
        sources: list[tuple[str, ...]] = []
        sensitive = False
        for i, src in enumerate(spec.from_ or []):
            found = self.path(src, internal.root, (*where, "from", i), "internal")
            if found is None:
                continue
            segs, node = found
            if ARRAY in segs or node.kind not in SCALARS:
                self.error(
                    Code.BAD_DERIVED,
                    f"derived source `{src}` must be a scalar outside arrays",
                    (*where, "from", i),
                    "derive only from plain fields",
                )
                continue
            sources.append(segs)
            sensitive |= self.levels.sensitive(self.classes.of(internal.root, segs))
        if spec.template is not None:
            if not spec.from_:
                self.error(
                    Code.BAD_DERIVED,
                    f"derived `{name}` has a template but no `from:`",
                    where,
                    "add `from: [path, ...]`",
                )
                return None
            try:
                fields = [
                    (f, c, s)
                    for _, f, s, c in string.Formatter().parse(spec.template)
                    if f is not None
                ]
            except ValueError as exc:
                self.error(
                    Code.BAD_DERIVED,
                    f"bad template: {exc}",
                    (*where, "template"),
                    'use "{0} {1}"',
                    value=True,
                )
                return None
            used = [f for f, _, _ in fields]
            bad = [
                f for f in used if not (f.isascii() and f.isdigit()) or int(f) >= len(spec.from_)
            ]
            # the template becomes an f-string: a field inside a format spec ({0:{...}}) would
            # be a Python expression evaluated on every record (red-team, sixth pass)
            unsafe = [
                (f, c, s)
                for f, c, s in fields
                if c not in (None, "r", "s", "a") or "{" in (s or "")
            ]
            if unsafe and not bad:
                f, c, s = unsafe[0]
                self.error(
                    Code.BAD_DERIVED,
                    f"template field {{{f}{'!' + c if c else ''}{':' + s if s else ''}}} holds a field or conversion "
                    "a template may not: only a format spec of literal characters and !r, !s, !a",
                    (*where, "template"),
                    'use "{0}" or a plain format spec like "{0:>8}"',
                    value=True,
                )
                return None
            if bad:
                self.error(
                    Code.BAD_DERIVED,
                    f"template field {{{bad[0]}}} is not an index into `from:`",
                    (*where, "template"),
                    f"use {{0}} .. {{{len(spec.from_) - 1}}}",
                    value=True,
                )
                return None
        if sensitive and not spec.why:
            self.error(
                Code.MISSING_WHY,
                f"derived `{name}` exposes pii/secret sources without `why:`",
                where,
                "add `why:`",
            )
        self.derived_groups(spec, where)
        if target is None or len(sources) != len(spec.from_ or []):
            return None
        segs, out_node = target
        if ARRAY in segs:
            self.error(
                Code.BAD_DERIVED,
                "derived fields cannot target array items",
                where,
                "pick a top-level field",
            )
            return None
        if spec.template is not None:
            text_ok = out_node.kind in (Kind.STRING, Kind.ANY) and out_node.enum is None
            reason = (
                None
                if text_ok
                else f"a template yields a string but `{name}` is {out_node.describe()}"
            )
        else:
            reason = _const_fit(spec.const, out_node)
        if reason:
            self.error(
                Code.TYPE_MISMATCH, reason, where, "change the derived value or the external type"
            )
            return None
        dropped = frozenset(g for g, v in spec.groups.items() if v == "drop")
        return Derived(
            name, segs, tuple(sources), spec.template, spec.const, dropped, spec.why, out_node
        )

    def derived_groups(self, spec: DerivedRule, where: tuple[str | int, ...]) -> None:
        """A derived field's ``groups:`` may name only declared groups."""
        for group in spec.groups:
            if group not in self.m.groups:
                self.error(
                    Code.UNDECLARED_GROUP,
                    f"group `{group}` is not declared",
                    (*where, "groups", group),
                    "declare it under `groups:`",
                )

    def derived_count(
        self,
        name: str,
        spec: DerivedRule,
        internal: LoadedSchema,
        external: LoadedSchema,
        target: tuple[tuple[str, ...], SchemaNode] | None,
    ) -> Derived | None:
        """``{count: path}``: the number of items of an internal array.

        Only the count leaves, never an item, so it needs no ``why:`` even when
        the items are pii (a reviewer still sees the source in ``review``).
        """
        where: tuple[str | int, ...] = ("derived", name)
        if spec.from_:
            self.error(
                Code.BAD_DERIVED,
                f"derived `{name}` counts `{spec.count}`; `from:` does not apply",
                (*where, "from"),
                "remove `from:`",
            )
            return None
        found = self.path(str(spec.count), internal.root, (*where, "count"), "internal")
        if found is None or target is None:
            return None
        segs, node = found
        if node.kind is not Kind.ARRAY or ARRAY in segs:
            self.error(
                Code.BAD_DERIVED,
                f"`count:` needs an array outside arrays; `{spec.count}` is {node.describe()}"
                + (" inside an array" if ARRAY in segs else ""),
                (*where, "count"),
                "count a top-level or nested array field (`dependants`, `a.items`)",
            )
            return None
        self.derived_groups(spec, where)
        out_segs, out_node = target
        reason = (
            "derived fields cannot target array items"
            if ARRAY in out_segs
            else _count_fit(out_node)
        )
        if reason:
            self.error(
                Code.TYPE_MISMATCH, reason, where, "count into an integer field outside arrays"
            )
            return None
        dropped = frozenset(g for g, v in spec.groups.items() if v == "drop")
        return Derived(name, out_segs, (segs,), None, None, dropped, spec.why, out_node, count=True)


def _mismatch_hint(t: Treatment, src: SchemaNode, dst: SchemaNode, target: str) -> str:
    """SG106's fix; when the kinds differ (``tokenize`` gives a string, the target is an
    integer), every way out, since the treatment alone may not have one."""
    kind = t.definition.output(t, src)[0] or src.kind
    if dst.kind is kind or dst.kind not in SCALARS or kind is Kind.NULL:
        return "change the treatment or the external type"
    return (
        f"`{t.name}` gives {kind.value}: pick a treatment that gives {dst.kind.value} (the "
        "`output` column of docs/treatments.md), send the field with `to:` to an external "
        f"field of type {kind.value}, compute `{target}` under `derived:`, or change the "
        "external type"
    )


def _count_fit(node: SchemaNode) -> str | None:
    if node.kind in (Kind.INTEGER, Kind.NUMBER, Kind.ANY) and node.enum is None:
        return None
    return f"a count yields an integer but the external field is {node.describe()}"


def _const_fit(value: object, node: SchemaNode) -> str | None:
    if value is None:
        return (
            None
            if node.nullable or node.kind is Kind.ANY
            else "const null but the field is not nullable"
        )
    if node.enum is not None and value not in node.enum:
        return f"const {value!r} is not in the external enum"
    kind = {bool: Kind.BOOLEAN, int: Kind.INTEGER, float: Kind.NUMBER, str: Kind.STRING}[
        type(value)
    ]
    ok = node.kind in (kind, Kind.ANY) or (kind is Kind.INTEGER and node.kind is Kind.NUMBER)
    if not ok:
        return f"const {value!r} does not fit {node.describe()}"
    return constraint_fit(Promise(values=(value,)), node, kind)  # pattern, length, range


def _scalar_array(node: SchemaNode) -> bool:
    return node.kind is Kind.ARRAY and node.items is not None and node.items.kind in SCALARS
