"""Attack class: a schema that costs shimgen more than its size.

A partner's schema is read by ``check`` and ``generate`` in CI and on developers'
machines. Nine levels of ten YAML aliases (a 700-byte file) made ``generate`` copy
10**9 values; a chain of 16,000 ``$ref`` aliases took ``check`` 82 s and an enum of
160,000 values 96 s, both quadratic. Aliases may add at most MAX_ALIAS_GROWTH values
(SG006), and the ref chain and the enum comparison are linear. ``generate`` hands the
model to datamodel-code-generator, whose time is quadratic in both (4,000 refs: 50 s and
1.3 GB), so a model may reference at most MAX_MODEL_SCHEMAS schemas and hold at most
MAX_ENUM_VALUES enum values (SG006 from ``check``, so what checks also generates). See
docs/threat-model.md, "A schema that costs more than its size".
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from shimgen.check import check_mapping
from shimgen.diagnostics import Code
from shimgen.schema.limits import MAX_ENUM_VALUES, MAX_MODEL_SCHEMAS
from shimgen.schema.refs import MAX_ALIAS_GROWTH


def _check(tmp_path: Path, schema: str, model: str = "R") -> tuple[Any, float]:
    mapping = tmp_path / "x.shim.yaml"
    mapping.write_text(
        "shim: x\nversion: 1\nowner: o\n"
        f"internal: {{schema: {schema}, model: {model}}}\n"
        f"external: {{schema: {schema}, model: {model}}}\n"
        "fields: {id: {treat: tokenize, why: key}}\n"
    )
    start = time.perf_counter()
    result = check_mapping(mapping)
    return result, time.perf_counter() - start


def test_yaml_aliases_in_a_schema_are_bounded(tmp_path: Path) -> None:
    lines = ["openapi: 3.0.0", "info: {title: t, version: '1'}", "paths: {}"]
    lines.append("x-l0: &l0 [" + ", ".join(["lol"] * 10) + "]")
    lines += [f"x-l{i}: &l{i} [" + ", ".join([f"*l{i - 1}"] * 10) + "]" for i in range(1, 10)]
    lines += [
        "components:",
        "  schemas:",
        "    R: {type: object, properties: {id: {type: string}}, x-bomb: *l9}",
    ]
    (tmp_path / "bomb.yaml").write_text("\n".join(lines) + "\n")
    result, seconds = _check(tmp_path, "bomb.yaml")
    assert result.plan is None and seconds < 5
    assert {f.code for f in result.findings} == {Code.SCHEMA_UNREADABLE}
    assert f"more than {MAX_ALIAS_GROWTH:,} values through aliases" in result.findings[0].message


def test_a_few_yaml_aliases_are_still_a_schema(tmp_path: Path) -> None:
    (tmp_path / "s.yaml").write_text(
        "components:\n  schemas:\n"
        "    Id: &id {type: string}\n"
        "    R: {type: object, properties: {id: *id, other: *id}}\n"
    )
    result, _ = _check(tmp_path, "s.yaml")
    assert not [f for f in result.findings if f.code is Code.SCHEMA_UNREADABLE]


def _ref_chain(tmp_path: Path, n: int) -> None:
    defs: dict[str, Any] = {f"D{i}": {"$ref": f"#/$defs/D{i + 1}"} for i in range(n)}
    defs[f"D{n}"] = {"type": "string"}
    defs["R"] = {"type": "object", "properties": {"id": {"$ref": "#/$defs/D0"}}}
    (tmp_path / "chain.json").write_text(json.dumps({"$defs": defs}))


def test_a_long_ref_chain_is_refused_in_linear_time(tmp_path: Path) -> None:
    _ref_chain(tmp_path, 20_000)
    result, seconds = _check(tmp_path, "chain.json")
    assert result.plan is None and seconds < 10  # 82 s for 16,000 before
    codes = {f.code for f in result.findings}
    assert codes == {Code.SCHEMA_UNREADABLE}
    assert "the model references 20,001 schemas, more than the 2,000" in result.findings[0].message


def test_a_ref_chain_as_long_as_the_limit_is_a_schema(tmp_path: Path) -> None:
    _ref_chain(tmp_path, MAX_MODEL_SCHEMAS - 1)  # D0 .. D1999: MAX_MODEL_SCHEMAS targets
    result, _ = _check(tmp_path, "chain.json")
    assert result.plan is not None, result.findings


def _enum_check(tmp_path: Path, *sizes: int) -> Any:
    props = {f"e{i}": {"enum": [f"v{j}" for j in range(n)]} for i, n in enumerate(sizes)}
    schema = {"$defs": {"R": {"type": "object", "properties": props}}}
    (tmp_path / "enum.json").write_text(json.dumps(schema))
    mapping = tmp_path / "x.shim.yaml"
    fields = ", ".join(f"e{i}: {{treat: pass, why: codes}}" for i in range(len(sizes)))
    mapping.write_text(
        "shim: x\nversion: 1\nowner: o\n"
        "internal: {schema: enum.json, model: R}\nexternal: {schema: enum.json, model: R}\n"
        f"fields: {{{fields}}}\n"
    )
    start = time.perf_counter()
    result = check_mapping(mapping)
    return result, time.perf_counter() - start


def test_a_large_enum_is_refused_in_linear_time(tmp_path: Path) -> None:
    result, seconds = _enum_check(tmp_path, 200_000)
    assert result.plan is None and seconds < 10  # 96 s for 160,000 before
    assert {f.code for f in result.findings} == {Code.SCHEMA_UNREADABLE}  # both sides
    assert "enums hold 200,000 values together, more than the 20,000" in result.findings[0].message


def test_enums_count_together_against_the_limit(tmp_path: Path) -> None:
    half = MAX_ENUM_VALUES // 2
    result, _ = _enum_check(tmp_path, half, half)
    assert result.plan is not None, result.findings
    result, _ = _enum_check(tmp_path, half, half + 1)
    assert result.plan is None
    assert f"enums hold {MAX_ENUM_VALUES + 1:,} values" in result.findings[0].message
