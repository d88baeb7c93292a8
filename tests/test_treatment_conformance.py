"""Every registered treatment, through the whole tool on a one-field mapping.

For each treatment and each of its declared samples: the mapping validates
against ``shimgen schema``, ``check`` is clean, the translate code is
generated and run (the output fits the external schema the treatment's
declared output describes, reversible treatments come back), the generated
leak test's window (the treatment's ``reveals``) holds on the sample,
``review`` renders it in its category and ``diff`` classifies it against
``drop`` both ways. A treatment that is only half there fails here.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from shimgen.check import check_mapping
from shimgen.diff import Kind as DiffKind
from shimgen.diff import diff_specs
from shimgen.diff.treat import compare_treatments
from shimgen.mapping.model import mapping_json_schema
from shimgen.render.canary import canary_record, forbidden
from shimgen.review.model import build_report
from shimgen.review.render import render_report
from shimgen.runtime.core import transforms
from shimgen.schema.model import Kind, SchemaNode
from shimgen.treatments import DROP, PASS, REGISTRY, parse_treatment
from shimgen.treatments.base import (
    Emitter,
    Sample,
    Site,
    Treatment,
    TreatmentDef,
    register,
)
from tests.expected import translator


def _external(d: TreatmentDef, t: Treatment, sample: Sample) -> dict[str, Any] | None:
    """The external field schema the treatment's declared output describes."""
    if not d.emits:
        return None
    schema = dict(sample.schema)
    node = SchemaNode(
        Kind(schema["type"]) if isinstance(schema.get("type"), str) else Kind.ANY,
        format=schema.get("format"),
        pattern=schema.get("pattern"),
    )
    kind, fmt = d.output(t, node)
    if kind is Kind.NULL:
        return {"type": ["string", "null"]}
    if kind is None:
        return {k: v for k, v in schema.items() if k != "enum" or d.copies}
    out: dict[str, Any] = {"type": kind.value}
    if fmt:
        out["format"] = fmt
    elif kind is Kind.STRING and "pattern" in schema and kind.value == schema.get("type"):
        out["pattern"] = schema["pattern"]  # a shape-keeping treatment: the same pattern
    return out


def _spec(name: str, sample: Sample) -> Any:
    return sample.spec if sample.spec is not None else name


def _write_mapping(tmp: Path, label: str, name: str, *, drop: bool = False) -> Path:
    """One field ``fI`` per sample of treatment ``name`` (or all dropped: the diff's old side)."""
    d = REGISTRY[name]
    props, ext_props, fields = {}, {}, {}
    for i, sample in enumerate(d.samples):
        spec = "drop" if drop else _spec(name, sample)
        t = parse_treatment(_spec(name, sample))
        props[f"f{i}"] = dict(sample.schema)
        ext = _external(d, t, sample)
        if ext is not None:
            ext_props[f"f{i}"] = ext
        rule: dict[str, Any] = {"treat": spec}
        if t.reversible and t.emits and sample.schema.get("type") != "object" and not drop:
            rule |= {"inbound": True, "why": "callers send it back"}
        fields[f"f{i}"] = rule
    internal = {"type": "object", "properties": props, "required": sorted(props)}
    external = {"type": "object", "properties": ext_props or {"other": {"type": "string"}}}
    (tmp / "internal.json").write_text(json.dumps(internal), encoding="utf-8")
    (tmp / "external.json").write_text(json.dumps(external), encoding="utf-8")
    mapping = {
        "shim": "conformance",
        "version": 1,
        "owner": "tests",
        "internal": {"schema": "internal.json"},
        "external": {"schema": "external.json"},
        "fields": fields,
    }
    path = tmp / f"{label}.shim.yaml"
    path.write_text(yaml.safe_dump(mapping, sort_keys=False), encoding="utf-8")
    return path


def _runs(text: str, window: int) -> Iterator[str]:
    return (text[i : i + window] for i in range(len(text) - window + 1))


def _leaks(out: dict[str, Any], texts: list[tuple[str, int]]) -> list[str]:
    """The generated ``test_canary_leak``: canary runs of a field's window found in ``out``."""
    shown = json.dumps(out, ensure_ascii=False)
    return [text for text, window in texts if any(r in shown for r in _runs(text, window))]


def conformance(name: str, tmp: Path) -> None:
    """Run a treatment's samples through schema, check, codegen, translate, review, diff."""
    d = REGISTRY[name]
    treats = [parse_treatment(_spec(name, s)) for s in d.samples]
    assert all(t.definition is d for t in treats)
    record = {f"f{i}": s.value for i, s in enumerate(d.samples)}

    # the mapping JSON Schema (`shimgen schema`) accepts every spec
    path = _write_mapping(tmp, "new", name)
    schema = jsonschema.Draft202012Validator(mapping_json_schema())
    schema.validate(yaml.safe_load(path.read_text()))

    # check
    result = check_mapping(path)
    assert result.plan is not None, [f.format() for f in result.findings]
    plan = result.plan
    assert [r.treat for r in plan.rules] == treats

    if d.runtime is not None:  # the run-time function it declares exists ...
        assert callable(getattr(transforms, d.runtime, None)), f"no runtime {d.runtime}"
        assert d.runtime in transforms.__all__

    # codegen, translate (and back, when inbound)
    external = json.loads((tmp / "external.json").read_text())
    with translator(plan) as mod:
        source = Path(mod.__file__).read_text(encoding="utf-8")
        out = mod.to_external(record)
        canary = canary_record(plan)
        leak_test = {
            view: _leaks(mod.to_external(canary, group=view), texts)
            for view, texts in forbidden(plan, canary).items()
        }
        inbound = {r.key for r in plan.rules if r.inbound}
        back = mod.to_internal({k: v for k, v in out.items() if k in inbound}) if inbound else {}
    if d.runtime is not None:  # ... and emitted
        assert f"_t.{d.runtime}(" in source
    fits = jsonschema.Draft202012Validator(external, format_checker=jsonschema.FormatChecker())
    fits.validate(out)
    assert all((f"f{i}" in out) is d.emits for i in range(len(treats)))
    assert back == {k: record[k] for k in inbound}

    # the generated leak test passes on what check accepted, and its window is
    # what the treatment declares
    clean: dict[Any, list[str]] = {view: [] for view in plan.views}
    assert leak_test == clean, "the generated leak test fails: it reveals more than it declares"
    shown = json.dumps(out, ensure_ascii=False)
    for t, sample in zip(treats, d.samples, strict=True):
        window = t.leak_window
        if window is not None and t.emits:
            text = str(sample.value).split("@")[0]
            leaked = [run for run in _runs(text, window) if run in shown]
            assert not leaked, f"{t} reveals more than its declared {t.reveals} characters"

    # review
    report = build_report(result)
    assert {row.cells[0].category for row in report.fields} == {d.category}
    assert [g.treatment for g in report.glossary] == [name]
    text = render_report(report, "md")
    assert all(str(t) in text for t in treats)

    # diff, against drop, both ways
    old = _write_mapping(tmp, "old", name, drop=True)
    forward = diff_specs(str(old), str(path))
    backward = diff_specs(str(path), str(old))
    for t in treats:
        moved = [(c.kind, c.old) for c in forward.changes if c.new == str(t)]
        moved_back = [(c.kind, c.new) for c in backward.changes if c.old == str(t)]
        if t == DROP:
            assert not forward.changes and not backward.changes
        else:
            assert moved and set(moved) == {(DiffKind.LOOSENED, "drop")}, forward.changes
            assert moved_back and set(moved_back) == {(DiffKind.TIGHTENED, "drop")}
        there, back_verdict = compare_treatments(PASS, t), compare_treatments(t, PASS)
        assert (there is None) == (back_verdict is None) == (t == PASS)
        if there is not None and back_verdict is not None:
            flip = {DiffKind.LOOSENED: DiffKind.TIGHTENED, DiffKind.TIGHTENED: DiffKind.LOOSENED}
            assert flip.get(there.kind, there.kind) is back_verdict.kind


@pytest.mark.parametrize("name", list(REGISTRY))
def test_every_treatment_runs_through_the_whole_tool(name: str, tmp_path: Path) -> None:
    conformance(name, tmp_path)


def test_every_treatment_has_run_time_function_or_none_needed() -> None:
    emitted = {d.runtime for d in REGISTRY.values() if d.runtime}
    assert emitted <= set(transforms.__all__)
    assert set(transforms.__all__) - emitted <= {"bucket_labels"}, "a transform nobody emits"


# -- a half-registered treatment fails ------------------------------------------


def test_a_treatment_without_its_code_cannot_register() -> None:
    class NoCode(TreatmentDef):
        name = "nocode"
        category = "masked"
        rank = 55
        summary = "x"
        example = "nocode"
        samples = (Sample({"type": "string"}, "abc"),)

        def reveals(self, t: Treatment) -> int | None:
            return 0

    with pytest.raises(TypeError):
        register(NoCode)
    assert "nocode" not in REGISTRY


def test_a_treatment_in_no_review_category_cannot_register() -> None:
    class Odd(TreatmentDef):
        name = "odd"
        category = "scrambled"
        rank = 55
        summary = "x"
        example = "odd"
        samples = (Sample({"type": "string"}, "abc"),)

        def reveals(self, t: Treatment) -> int | None:
            return 0

        def outbound(self, t: Treatment, em: Emitter, site: Site) -> str:
            return "v"

    with pytest.raises(TypeError, match="unknown category"):
        register(Odd)


class _Reverse(TreatmentDef):
    """Registers cleanly but emits a run-time function that does not exist."""

    name = "reverse"
    category = "masked"
    rank = 55
    summary = "the value backwards"
    example = "reverse"
    samples = (Sample({"type": "string"}, "abcdefghijkl"),)
    runtime = "reverse"
    accepts = frozenset({Kind.STRING})
    output_kind = Kind.STRING

    def reveals(self, t: Treatment) -> int | None:
        return 0

    defect = "reverse"

    def outbound(self, t: Treatment, em: Emitter, site: Site) -> str:
        return "_t.reverse(v)"


class _Leaky(_Reverse):
    """Declares it reveals nothing but sends the value whole."""

    name = "leaky"
    runtime = None
    defect = "reveals more than"

    def outbound(self, t: Treatment, em: Emitter, site: Site) -> str:
        return "v"


@pytest.mark.parametrize("half", [_Reverse, _Leaky])
def test_a_half_registered_treatment_fails_conformance(
    half: type[_Reverse], tmp_path: Path
) -> None:
    register(half)
    try:
        with pytest.raises(AssertionError, match=half.defect):
            conformance(half.name, tmp_path)
    finally:
        del REGISTRY[half.name]
