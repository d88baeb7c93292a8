"""What a treatment is: one object that says everything about it, and the one registry.

Each treatment (``mask``, ``truncate``, ...) is one :class:`TreatmentDef`
instance in one module of this package. It declares how it is written in a
mapping (parsing, the JSON Schema of its spec), where it applies, what it
yields (kind and format), whether the shim can reverse it, how many
characters of its input it can reveal, where it stands for ``diff``, how
``review`` names it, and the code it emits outbound and inbound. The
checker, the code generator, review, diff, lint, the generated leak test and
``shimgen schema`` all read these objects through :data:`REGISTRY`, so a
treatment cannot be half added: a missing piece is an abstract method (the
class cannot be instantiated) or an error at registration.

The run-time functions stay in ``shimgen/runtime/core/transforms.py`` (generated
code never imports shimgen); a treatment names the one it emits in
:attr:`TreatmentDef.runtime`.
"""

from __future__ import annotations

import abc
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from typing import Any, ClassVar, Protocol

from shimgen.schema.model import Kind, SchemaNode
from shimgen.treatments.fit import Promise, scalar_fit

PY_TYPES = {
    Kind.STRING: "(str,)",
    Kind.INTEGER: "(int,)",
    Kind.NUMBER: "(int, float)",
    Kind.BOOLEAN: "(bool,)",
}
"""Python classes accepted for a JSON scalar kind, as generated code writes them."""

WHAT = {
    Kind.STRING: "a string",
    Kind.INTEGER: "an integer",
    Kind.NUMBER: "a number",
    Kind.BOOLEAN: "a boolean",
}


def set_literal(values: Iterable[Any]) -> str:
    """``frozenset({...})`` in a stable order: set repr order varies with PYTHONHASHSEED."""
    return "frozenset({" + ", ".join(repr(v) for v in sorted(set(values), key=repr)) + "})"


CATEGORIES: tuple[tuple[str, str], ...] = (
    ("passed", "the value itself"),
    ("tokenized", "a reversible token; only the shim can turn it back"),
    ("mapped", "the same information under other enum values"),
    ("generalised", "a coarser value"),
    ("masked", "part of the value"),
    ("hashed", "a keyed pseudonym; equal values give equal hashes"),
    ("redacted", "a constant or null in place of the value"),
    ("dropped", "nothing: the field does not leave"),
)
"""Plain-language categories for ``review``, least revealing last."""

LEAK_WINDOW = 8
"""The run of a canary value's characters the generated leak test searches the output for.

Every generated package's leak test (``tests/test_translate.py``, and over
HTTP ``tests/test_service.py``) fills each internal field with a canary value
and fails if a run of this many of its characters appears where the field's
treatment should hide it. Shorter runs would match by chance (a year, a
label), so canary texts shorter than this are not searched.
"""

REVEAL_LIMIT = LEAK_WINDOW - 1
"""The most characters of its input a partial treatment may show (``reveals``).

``parse_treatment`` refuses more (check reports SG115 at the ``treat:``):
a treatment showing ``LEAK_WINDOW`` characters would show a whole run the
leak test looks for, so that test could not tell it from a leak. What
``check`` accepts, the generated leak test passes, and it can still fail.
Treatments that may show everything (``reveals`` None: ``pass``, ``map``)
are not partial reveals; the leak test does not search them.
"""

HIDING = frozenset({"tokenized", "hashed", "redacted", "dropped"})
"""Categories whose output says nothing about the value beyond equality.

Lint's safety rules (``secret-strict-treatment``, ``internal-ids-tokenized``,
``no-view-exposes-all-pii``) default to the treatments in these categories.
"""


class TreatmentError(ValueError):
    """A treatment spec that cannot be parsed; message and hint become a finding."""

    def __init__(self, message: str, hint: str) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint


@dataclass(frozen=True)
class Treatment:
    """A treatment as a mapping uses it: its name and normalised parameters."""

    name: str
    params: tuple[tuple[str, Any], ...] = ()

    @property
    def definition(self) -> TreatmentDef:
        """The treatment object that knows everything about this name."""
        return REGISTRY[self.name]

    @property
    def rank(self) -> int:
        return self.definition.rank

    def param(self, key: str, default: Any = None) -> Any:
        return dict(self.params).get(key, default)

    @property
    def table(self) -> dict[Any, Any]:
        """The value table of a ``map`` treatment."""
        return dict(self.param("table", ()))

    @property
    def reversible(self) -> bool:
        return self.definition.is_reversible(self)

    @property
    def emits(self) -> bool:
        return self.definition.emits

    @property
    def reveals(self) -> int | None:
        """Characters of the input the output can show verbatim; None: all of it."""
        return self.definition.reveals(self)

    @property
    def leak_window(self) -> int | None:
        """The run of canary characters the leak test searches for (None: not searched).

        :data:`LEAK_WINDOW` for every treatment ``check`` accepts (it reveals at
        most :data:`REVEAL_LIMIT`); one more than ``reveals`` for a treatment
        built by hand past the limit, so the window never matches what it may show.
        """
        shown = self.reveals
        return None if shown is None else max(LEAK_WINDOW, shown + 1)

    def __str__(self) -> str:
        return self.definition.label(self)


class Emitter(Protocol):
    """What a treatment needs from the code generator to write its expression."""

    def const(self, prefix: str, value: str) -> str:
        """A module constant holding the Python literal ``value``; its name."""
        ...

    def copier(self, node: SchemaNode, out: SchemaNode | None) -> str:
        """A generated function that copies a whole object, array or map by its schema."""
        ...


@dataclass(frozen=True)
class Site:
    """Where one treatment's code goes: the field and how generated code names things."""

    node: SchemaNode  # the internal field
    out: SchemaNode | None  # the external field (None: dropped everywhere)
    context: str  # Python literal of the field's key-binding context
    where: str  # Python expression of the field's JSON pointer


@dataclass(frozen=True)
class Sample:
    """An internal field schema the treatment applies to, and a value of it.

    The conformance test runs every registered treatment over each of its
    samples (check, generate, translate, review, diff); docs can show them.
    """

    schema: Mapping[str, Any]
    value: Any
    spec: Any = None  # the mapping's `treat:`; None: the treatment's bare name


class TreatmentDef(abc.ABC):
    """One treatment, completely. Subclasses set the class attributes and methods."""

    name: ClassVar[str]
    category: ClassVar[str]  # one of CATEGORIES
    rank: ClassVar[int]  # higher reveals less; picks the "no group" view; diff order
    summary: ClassVar[str]  # review glossary: what the output is
    example: ClassVar[str]  # a spec as written in YAML, for hints and docs
    samples: ClassVar[tuple[Sample, ...]]
    runtime: ClassVar[str | None] = None  # the function in runtime/core/transforms.py it calls
    options: ClassVar[Mapping[str, Any]] = {}  # named option -> default
    accepts: ClassVar[frozenset[Kind] | None] = None  # internal kinds; None: any
    output_kind: ClassVar[Kind | None] = None  # None: the input's kind
    reversible: ClassVar[bool] = False
    needs_keys: ClassVar[bool] = False  # the generated function needs the keyset
    copies: ClassVar[bool] = False  # the value itself crosses (``pass``)
    emits: ClassVar[bool] = True  # False: the field does not leave (``drop``)
    raises: ClassVar[bool] = True  # the emitted expression may refuse a value (422)
    checks_input: ClassVar[bool] = True  # check the internal type before treating
    lookup: ClassVar[bool] = False  # the expression raises KeyError for a value off its table

    # -- the mapping ------------------------------------------------------------

    def parse(self, arg: Any) -> tuple[tuple[str, Any], ...]:
        """Normalised parameters of ``{name: arg}`` (``arg`` None: the bare name)."""
        if arg is None:
            return tuple(self.options.items())
        if not isinstance(arg, Mapping):
            if not self.options:
                raise TreatmentError(f"`{self.name}` takes no options", f"write `{self.name}`")
            raise TreatmentError(f"`{self.name}` takes named options", f"write `{self.example}`")
        unknown = set(arg) - set(self.options)
        if unknown:
            raise TreatmentError(
                f"`{self.name}` has no option `{sorted(unknown)[0]}`",
                f"options of {self.name}: {', '.join(sorted(self.options)) or 'none'}",
            )
        if not self.options:
            raise TreatmentError(f"`{self.name}` takes no options", f"write `{self.name}`")
        return tuple(
            (key, self.option(key, arg.get(key, default))) for key, default in self.options.items()
        )

    def option(self, key: str, value: Any) -> Any:
        """Validate one named option; subclasses with options override it."""
        return value

    def spec_schema(self) -> list[dict[str, Any]]:
        """JSON Schemas of the ways to write this treatment in ``treat:``."""
        forms: list[dict[str, Any]] = [{"const": self.name}]
        if self.options:
            forms.append(self.object_form(self.options_schema()))
        return forms

    def options_schema(self) -> dict[str, Any]:
        """JSON Schema of the named options (used by :meth:`spec_schema`)."""
        return {
            "type": "object",
            "properties": {k: _value_schema(v) for k, v in self.options.items()},
            "additionalProperties": False,
        }

    def object_form(self, arg: dict[str, Any]) -> dict[str, Any]:
        return {
            "type": "object",
            "properties": {self.name: arg},
            "required": [self.name],
            "additionalProperties": False,
            "description": f"{self.summary or self.name}; e.g. `{self.example}`",
        }

    def label(self, t: Treatment) -> str:
        """Readable form; options left at their defaults are not shown."""
        shown = [(k, v) for k, v in t.params if self.options.get(k, _UNSET) != v]
        if not shown:
            return t.name
        return f"{t.name}({', '.join(f'{k}={v!r}' for k, v in shown)})"

    # -- check --------------------------------------------------------------------

    def applicable(self, t: Treatment, src: SchemaNode) -> str | None:
        """Why ``t`` cannot apply to the internal field ``src``, or None if it can."""
        if self.accepts is not None and src.kind not in self.accepts:
            names = " or ".join(sorted(k.value for k in self.accepts))
            return f"`{t.name}` applies to {names} values, not {src.describe()}"
        return None

    def output(self, t: Treatment, src: SchemaNode) -> tuple[Kind | None, str | None]:
        """Kind and format of what ``t`` yields from ``src`` (kind None: ``src``'s)."""
        return self.output_kind, None

    def promise(self, t: Treatment, src: SchemaNode) -> Promise | None:
        """What every output is known to satisfy beyond its kind and format, or None.

        Checked against the external field's pattern, lengths and range: only
        what is said here (``last4`` says "at most 4 characters"); the rest is
        left to the service's validation of the external record at run time.
        """
        return None

    def fit(self, t: Treatment, src: SchemaNode, dst: SchemaNode) -> str | None:
        """Why the treated value does not fit the external ``dst``, or None."""
        kind, fmt = self.output(t, src)
        kind = kind or src.kind
        what = f"`{t.name}` yields {kind.value}"
        promise = self.promise(t, src)
        if promise is not None:
            promise = replace(promise, by=f"`{t}`")
        return scalar_fit(kind, None, dst, what, fmt=fmt, promise=promise)

    def is_reversible(self, t: Treatment) -> bool:
        return self.reversible

    @abc.abstractmethod
    def reveals(self, t: Treatment) -> int | None:
        """How many characters of its input the output can show verbatim (None: all).

        ``check`` refuses a treatment revealing more than :data:`REVEAL_LIMIT`
        (SG115), and the generated leak test searches the output for runs of
        ``Treatment.leak_window`` characters of each canary value, both from
        this number, so anything ``check`` accepts passes the generated tests.
        """

    # -- code -------------------------------------------------------------------------

    def input_check(self, t: Treatment, em: Emitter, node: SchemaNode) -> str:
        """An inline condition true when ``v`` is NOT acceptable input (empty: none)."""
        if not self.checks_input or node.kind not in PY_TYPES:
            return ""
        types = PY_TYPES[node.kind]
        if types.count(",") == 1 and types.endswith(",)"):
            return f"v.__class__ is not {types[1:-2]}"
        return f"v.__class__ not in {types}"

    @abc.abstractmethod
    def outbound(self, t: Treatment, em: Emitter, site: Site) -> str:
        """The expression turning checked internal ``v`` into the external value."""

    def inbound(self, t: Treatment, em: Emitter, site: Site) -> str:
        """The expression turning external ``v`` back into the internal value."""
        raise AssertionError(f"`{t.name}` is not reversible; nothing is emitted inbound")

    # -- diff ---------------------------------------------------------------------------

    def compare(self, old: Treatment, new: Treatment) -> tuple[int, str]:
        """Same treatment, other parameters: > 0 ``new`` reveals more, < 0 less."""
        return 0, ""

    def versus(self, mine: Treatment, other: Treatment) -> tuple[int, str] | None:
        """Against another treatment of equal rank: > 0 ``mine`` reveals more; None: no rule."""
        return None


def compare_ordered(
    old: Treatment, new: Treatment, param: str, more: str, less: str
) -> tuple[int, str]:
    """``TreatmentDef.compare`` for a treatment where a larger ``param`` reveals more."""
    a, b = old.param(param), new.param(param)
    if a == b:
        return 0, ""
    return (1, more) if b > a else (-1, less)


_UNSET = object()


def _value_schema(default: Any) -> dict[str, Any]:
    if isinstance(default, bool):
        return {"type": "boolean"}
    if isinstance(default, int):
        return {"type": "integer"}
    if isinstance(default, str):
        return {"type": "string"}
    return {}


REGISTRY: dict[str, TreatmentDef] = {}
"""Every treatment by name, in registration order (the order of docs and glossaries)."""


def register(cls: type[TreatmentDef]) -> type[TreatmentDef]:
    """Class decorator: instantiate and register one treatment, refusing a half one."""
    obj = cls()  # TypeError here when an abstract method is missing
    missing = [
        a
        for a in ("name", "category", "rank", "summary", "example", "samples")
        if not hasattr(obj, a)
    ]
    if missing:
        raise TypeError(f"treatment {cls.__name__} does not declare {', '.join(missing)}")
    if obj.name in REGISTRY:
        raise TypeError(f"treatment `{obj.name}` is registered twice")
    if obj.category not in dict(CATEGORIES):
        raise TypeError(f"treatment `{obj.name}` has unknown category `{obj.category}`")
    if obj.emits and not obj.samples:
        raise TypeError(f"treatment `{obj.name}` has no sample to test it on")
    REGISTRY[obj.name] = obj
    return cls


def int_param(
    name: str, key: str, value: Any, low: int | None = None, high: int | None = None
) -> int:
    """An integer parameter within bounds, or a :class:`TreatmentError`."""
    if not isinstance(value, int) or isinstance(value, bool):
        raise TreatmentError(f"`{name}.{key}` must be an integer", f"write `{key}: 4`")
    if (low is not None and value < low) or (high is not None and value > high):
        span = f"{low}..{high}" if high is not None else f">= {low}"
        raise TreatmentError(f"`{name}.{key}` must be {span}", f"pick a value in {span}")
    return value
