"""Attack class: a schema that costs shimgen more than its size.

A partner's schema is read by ``check`` and ``generate`` in CI and on developers'
machines. Nine levels of ten YAML aliases (a 700-byte file) made ``generate`` copy
10**9 values; a chain of 16,000 ``$ref`` aliases took ``check`` 82 s and an enum of
160,000 values 96 s, both quadratic. Aliases may add at most MAX_ALIAS_GROWTH values
(SG006), and the ref chain and the enum comparison are linear. See
docs/threat-model.md, "A schema that costs more than its size".
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from shimgen.check import check_mapping
from shimgen.diagnostics import Code
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


def test_a_long_ref_chain_is_checked_in_linear_time(tmp_path: Path) -> None:
    n = 20_000
    defs: dict[str, Any] = {f"D{i}": {"$ref": f"#/$defs/D{i + 1}"} for i in range(n)}
    defs[f"D{n}"] = {"type": "string"}
    defs["R"] = {"type": "object", "properties": {"id": {"$ref": "#/$defs/D0"}}}
    (tmp_path / "chain.json").write_text(json.dumps({"$defs": defs}))
    result, seconds = _check(tmp_path, "chain.json")
    assert result.plan is not None and seconds < 10  # 82 s for 16,000 before


def test_a_large_enum_is_checked_in_linear_time(tmp_path: Path) -> None:
    values = [f"v{i}" for i in range(200_000)]
    schema = {"$defs": {"R": {"type": "object", "properties": {"id": {"enum": values}}}}}
    (tmp_path / "enum.json").write_text(json.dumps(schema))
    mapping = tmp_path / "x.shim.yaml"
    mapping.write_text(
        "shim: x\nversion: 1\nowner: o\n"
        "internal: {schema: enum.json, model: R}\nexternal: {schema: enum.json, model: R}\n"
        "fields: {id: {treat: pass, why: codes}}\n"
    )
    start = time.perf_counter()
    result = check_mapping(mapping)
    assert result.plan is not None, result.findings
    assert time.perf_counter() - start < 10  # 96 s for 160,000 before
