"""Helpers shared by the review report tests: example reports and a hostile mapping."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

from shimgen.check import CheckResult, check_mapping
from tests.expected import ROOT

HOSTILE = "<script>alert('x')</script> | `tick` *star* [link](http://evil.example/) & <b>b</b>"


def example(name: str) -> CheckResult:
    return check_mapping(ROOT / "mappings" / f"{name}.shim.yaml")


def hostile_mapping(tmp: Path) -> Path:
    """The customer mapping with hostile text in its description, a group and a why:."""
    shutil.copytree(ROOT / "mappings" / "schemas", tmp / "schemas")
    text = (ROOT / "mappings" / "customer.shim.yaml").read_text(encoding="utf-8")
    text = text.replace(
        "description: Customer records handed from payments to partner-facing apps.",
        f"description: {_quoted(HOSTILE)}",
    )
    text = text.replace(
        "support: Customer support - contact details, never payment data",
        f"support: {_quoted(HOSTILE)}",
    )
    text = text.replace('why: "KYC data; never leaves payments"', f"why: {_quoted(HOSTILE)}")
    assert text.count(HOSTILE.split("|")[0].strip()) == 3
    path = tmp / "hostile.shim.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def _quoted(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def table_cells(line: str) -> int:
    """Cells in a GFM table row: unescaped pipes, less the leading and trailing one."""
    return len(re.findall(r"(?<!\\)\|", line)) - 1


def markdown_tables(text: str) -> list[list[str]]:
    """Each run of consecutive lines starting with ``|``."""
    tables: list[list[str]] = []
    current: list[str] = []
    for line in text.splitlines():
        if line.startswith("|"):
            current.append(line)
        elif current:
            tables.append(current)
            current = []
    if current:
        tables.append(current)
    return tables
