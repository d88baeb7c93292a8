"""The generated README's worked example: what the service answers to its own test record.

The README's run section is a shell transcript (``$ `` a command, then what it
prints) that shimgen's test suite runs against a served shim, so the answers
it shows must be the service's real answers. They are computed here, at
generation time, by the same code the service runs: the rendered translator
and the package's runtime (``shimgen.translate.loaded_translator``), the input
checked against the internal schema and the answer against the external one,
as the service checks them.

The record is ``tests/http_canary.json``'s, which is schema-valid by
construction, so the README needs no sample data of its own. A value that
depends on the keyset (a token, a keyed hash) differs on every installation:
the answer is computed under two fresh keysets, and each string that differs
between them is shown as its common prefix up to the last ``.`` followed by
``*`` (``t1.k1.*``), in a line marked ``(glob)`` for the transcript runner.

Whatever stops the example (a record the schema still refuses, a mapping
without groups, a translation that fails) leaves the README without it: the
page then shows the steps up to a served, ready shim, never an answer it
could not compute.
"""

from __future__ import annotations

import importlib
import re
from dataclasses import dataclass
from typing import Any

import orjson

from shimgen.check.plan import ShimPlan, View
from shimgen.runtime.service import schemacheck
from shimgen.schema.model import Path_

_VARIES = "\ue000varies\ue000"  # a private-use character: JSON writes it as it is


@dataclass(frozen=True)
class RouteExample:
    """A GET proxy route the README calls, its one path parameter taken from the answer."""

    before: str
    """The external path up to the parameter, e.g. ``/customers/``."""
    field: str
    """The top-level external field of the outbound answer that fills the parameter."""
    after: str
    """The rest of the path after the parameter."""
    upstream_env: str


@dataclass(frozen=True)
class RunExample:
    """One group's round trip through the service, as the README's transcript shows it."""

    group: str
    outbound: str
    """The answer to ``POST /v1/outbound`` of the test record, as the transcript shows it."""
    inbound_fields: tuple[str, ...]
    """Top-level external fields the group may send back (the inbound payload keeps these)."""
    inbound: str
    """The answer to ``POST /v1/inbound`` of those fields, as the transcript shows it."""
    route: RouteExample | None = None
    """A proxy route whose internal API is a stand-in answering with the same record, so
    its answer is ``outbound`` again; None if the mapping has no route the page can call."""
    refused: str | None = None
    """A top-level field of the answer the group may not send back: the page adds it to
    the inbound payload to show the 422 that names it; None if every field may come back."""


def run_example(
    plan: ShimPlan,
    translate_source: str,
    document: dict[str, Any],
    record: dict[str, Any],
    unfit: list[Any],
    inbound: dict[View, list[tuple[Path_, Path_]]],
) -> RunExample | None:
    """The first group's outbound and inbound answers to ``record``, or None if there are none.

    ``document`` is the package's OpenAPI document (the schemas the service
    validates with); ``inbound`` the (internal, external) pairs each view may
    send back. Only top-level external fields are picked by the README's
    one-line payload filter; a group that may send a nested field gets no example.
    """
    if unfit or not plan.groups:
        return None
    group = next(iter(plan.groups))
    pairs = inbound.get(group, [])
    if not pairs or any(len(external) != 1 for _internal, external in pairs):
        return None
    fields = tuple(external[0] for _internal, external in pairs)
    answers = _round_trips(plan, translate_source, document, record, group, fields)
    if answers is None:
        return None
    (out, back), (out2, back2) = answers
    route = _route(plan, group, out, out2)
    refused = next((k for k in out if k not in fields), None) if isinstance(out, dict) else None
    return RunExample(group, _shown(out, out2), fields, _shown(back, back2), route, refused)


_URL_SAFE = re.compile(r"[A-Za-z0-9._~-]+")


def _route(plan: ShimPlan, group: str, out: Any, out2: Any) -> RouteExample | None:
    """The first GET route of ``group`` with one path parameter the answer holds URL-safe.

    The stand-in internal API answers every request with the record itself, so
    the route's answer is the outbound answer again; the parameter (a token,
    typically) comes from that answer, as a partner holding it would send it.
    """
    if plan.upstream is None:
        return None
    for route in plan.routes:
        if route.method != "GET" or group not in route.groups or len(route.params) != 1:
            continue
        param = route.params[0]
        before, brace, rest = route.path.partition("{" + param.name + "}")
        if not brace or "{" in before + rest or len(param.external) != 1:
            continue
        name = param.external[0]
        values = [out.get(name), out2.get(name)]
        if all(isinstance(v, str) and _URL_SAFE.fullmatch(v) for v in values):
            return RouteExample(before, name, rest, plan.upstream.url_env)
    return None


def _round_trips(
    plan: ShimPlan,
    source: str,
    document: dict[str, Any],
    record: dict[str, Any],
    group: str,
    fields: tuple[str, ...],
) -> list[tuple[Any, Any]] | None:
    """(outbound answer, inbound answer) under each of two fresh keysets, or None.

    Each step is checked as the service checks it (input against the internal
    schema, answer against the external one, the payload against the inbound
    one); None where the service would refuse, so the page never shows an
    answer the service would not give.
    """
    from shimgen.translate import loaded_translator  # it imports render.generate, which imports us

    with loaded_translator(plan, source) as mod:
        package = mod.__name__.rpartition(".")[0]
        keys: Any = importlib.import_module(package + ".runtime.core.keys")
        errors: Any = importlib.import_module(package + ".runtime.core.errors")
        internal = schemacheck.SchemaValidator(document, "InternalRecord")
        external = schemacheck.SchemaValidator(document, "ExternalRecord")
        payloads = schemacheck.SchemaValidator(document, "InboundPayload")
        if internal.problems(record):
            return None
        answers = []
        for _ in range(2):
            keys.install(keys.Keyset.generate())
            try:
                out = mod.to_external(record, group)
                if external.problems(out):
                    return None
                payload = {name: out[name] for name in fields if name in out}
                if not payload or payloads.problems(payload):
                    return None
                answers.append((out, mod.to_internal(payload, group)))
            except errors.TranslationError:
                return None
            finally:
                keys.reset()
    return answers


def _shown(first: Any, second: Any) -> str:
    """The answer as one transcript line; values that differ by keyset become globs."""
    merged = _merge(first, second)
    text = orjson.dumps(merged).decode()
    if _VARIES not in text:
        return text
    return text.replace("\\", "\\\\").replace(_VARIES, "*") + " (glob)"


def _merge(first: Any, second: Any) -> Any:
    """``first``, with each string that ``second`` has otherwise cut to its stable prefix."""
    if isinstance(first, dict) and isinstance(second, dict):
        return {k: _merge(v, second.get(k)) for k, v in first.items()}
    if isinstance(first, list) and isinstance(second, list) and len(first) == len(second):
        return [_merge(a, b) for a, b in zip(first, second, strict=True)]
    if first == second or not isinstance(first, str) or not isinstance(second, str):
        return first
    common = 0
    while common < min(len(first), len(second)) and first[common] == second[common]:
        common += 1
    stable = first[:common].rpartition(".")
    return (stable[0] + stable[1] if stable[1] else "") + _VARIES
