"""`shimgen review` through the CLI: formats, -o, and exit codes."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from shimgen.cli import app
from tests.expected import ROOT

CUSTOMER = ROOT / "mappings" / "customer.shim.yaml"


def _run(args: list[str]) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, args)
    return result.exit_code, result.stdout, result.stderr


def test_markdown_to_stdout_by_default() -> None:
    code, out, _ = _run(["review", str(CUSTOMER)])
    assert code == 0
    assert out.startswith("# Security review: `customer` shim, version 5")


def test_html_to_file(tmp_path: Path) -> None:
    target = tmp_path / "customer.html"
    code, out, err = _run(["review", str(CUSTOMER), "--format", "html", "-o", str(target)])
    assert code == 0
    assert out == ""
    assert f"wrote {target}" in err
    assert target.read_text(encoding="utf-8").startswith("<!DOCTYPE html>")


def test_mapping_with_errors_exits_1_with_findings(tmp_path: Path) -> None:
    bad = tmp_path / "bad.shim.yaml"
    text = CUSTOMER.read_text(encoding="utf-8").replace("  risk_score:", "  # risk_score:")
    bad.write_text(text.replace("schemas/", str(ROOT / "mappings" / "schemas") + "/"))
    code, out, err = _run(["review", str(bad)])
    assert code == 1
    assert out == ""
    assert "error[SG101]" in err and "risk_score" in err


def test_unreadable_mapping_exits_2(tmp_path: Path) -> None:
    code, out, err = _run(["review", str(tmp_path / "missing.shim.yaml")])
    assert code == 2
    assert out == "" and "cannot read" in err


def test_unknown_format_exits_2() -> None:
    code, _, err = _run(["review", str(CUSTOMER), "--format", "pdf"])
    assert code == 2
    assert "md or html" in err


def test_unwritable_output_exits_2(tmp_path: Path) -> None:
    code, _, err = _run(["review", str(CUSTOMER), "-o", str(tmp_path / "no" / "such" / "dir.md")])
    assert code == 2
    assert "cannot write" in err
