"""Help, version, completion and output formats of the `shimgen` command (issue 11, item 9)."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from shimgen import __version__
from shimgen.check import check_mapping
from shimgen.cli import app
from tests.test_lint_output import check_sarif

ROOT = Path(__file__).resolve().parent.parent
CUSTOMER = ROOT / "mappings" / "customer.shim.yaml"
SG102 = ROOT / "tests" / "fixtures" / "bad" / "SG102-unknown-internal.shim.yaml"
COMMANDS = ("check", "generate", "init", "translate", "verify", "diff", "review", "lint")
runner = CliRunner()


def _help(*args: str) -> str:
    result = runner.invoke(app, [*args, "--help"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    return result.stdout


def test_init_help_shows_the_name_rule_literally() -> None:
    assert "Shim name, [a-z][a-z0-9-]*." in _help("init")


@pytest.mark.parametrize("command", COMMANDS)
def test_no_option_is_typed_bool(command: str) -> None:
    """Flags take no value: help shows none (rich's help printed `<bool>` for each)."""
    text = _help(command)
    assert "<bool>" not in text
    assert not re.search(r"--\w[\w-]* <str>", text), "options name what they take"


def test_version_option_and_command() -> None:
    result = runner.invoke(app, ["--version"])
    assert (result.exit_code, result.stdout) == (0, f"shimgen {__version__}\n")
    assert runner.invoke(app, ["version"]).stdout == f"{__version__}\n"


def test_shell_completion_is_offered() -> None:
    top = _help()
    assert "--install-completion" in top and "--show-completion" in top
    proc = subprocess.run(
        [sys.executable, "-m", "shimgen", "--show-completion", "bash"],
        capture_output=True,
        text=True,
        env={"PATH": "/usr/bin:/bin", "SHELL": "/bin/bash"},
    )
    assert proc.returncode == 0, proc.stderr
    assert "complete" in proc.stdout and "_SHIMGEN_COMPLETE" in proc.stdout


@pytest.mark.parametrize("name", ["Payroll", "payroll_benefits", "1st", "ünï", "a" * 64])
def test_init_refuses_a_name_check_would_refuse(name: str, tmp_path: Path) -> None:
    schema = ROOT / "mappings" / "schemas" / "customer.internal.json"
    result = runner.invoke(
        app, ["init", name, "--internal", f"{schema}#Customer", "--external", f"{schema}#Customer"]
    )
    assert result.exit_code == 2
    assert f"error: shim name `{name}`" in result.stderr and "hint:" in result.stderr
    # the same name in a mapping: check refuses it with SG004
    shutil.copytree(CUSTOMER.parent, tmp_path / "mappings")
    mapping = tmp_path / "mappings" / CUSTOMER.name
    mapping.write_text(CUSTOMER.read_text().replace("shim: customer", f"shim: {json.dumps(name)}"))
    assert "SG004" in {str(f.code) for f in check_mapping(mapping).findings}


def test_sg102_hint_says_the_field_list_is_cut() -> None:
    (finding,) = [f for f in check_mapping(SG102).findings if str(f.code) == "SG102"]
    assert finding.hint.endswith(" and 3 more"), finding.hint
    assert finding.hint.count(",") == 7  # eight names shown, then the count


@pytest.mark.parametrize(
    ("count", "shown"),
    [
        (8, "f0, f1, f2, f3, f4, f5, f6, f7"),
        (9, "f0, f1, f2, f3, f4, f5, f6, f7, f8"),  # not "... f7 and 1 more"
        (10, "f0, f1, f2, f3, f4, f5, f6, f7 and 2 more"),
    ],
)
def test_a_list_cut_by_one_shows_that_one_instead(count: int, shown: str) -> None:
    from shimgen.diagnostics import some_of

    assert some_of([f"f{i}" for i in range(count)], 8) == shown


def test_sg103_hint_lists_nine_fields_whole(tmp_path: Path) -> None:
    """Nine external fields: the hint names all nine rather than eight "and 1 more"."""
    shutil.copytree(CUSTOMER.parent, tmp_path / "mappings")
    mapping = tmp_path / "mappings" / CUSTOMER.name
    mapping.write_text(CUSTOMER.read_text().replace("to: contact.email", "to: contact.emial"))
    external = tmp_path / "mappings" / "schemas" / "customer.external.json"
    doc = json.loads(external.read_text())
    contact = doc["$defs"]["PartnerCustomer"]["properties"]["contact"]["properties"]
    for i in range(9 - len(contact)):
        contact[f"extra{i}"] = {"type": "string"}
    external.write_text(json.dumps(doc))
    (finding,) = [f for f in check_mapping(mapping).findings if str(f.code) == "SG103"]
    assert "more" not in finding.hint, finding.hint
    assert finding.hint.count(",") == 8, finding.hint


def test_check_format_json() -> None:
    result = runner.invoke(app, ["check", str(CUSTOMER), str(SG102), "--format", "json"])
    assert result.exit_code == 1
    doc = json.loads(result.stdout)
    ok, bad = doc["files"]
    assert (ok["file"], ok["exit_code"], ok["findings"]) == (str(CUSTOMER), 0, [])
    assert bad["exit_code"] == 1
    codes = [f["code"] for f in bad["findings"]]
    assert "SG102" in codes
    first = bad["findings"][codes.index("SG102")]
    assert set(first) == {"code", "severity", "message", "line", "col", "hint"}
    assert "error[SG102]" not in result.stderr, "findings go in the document, not twice"


def test_check_format_sarif(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)
    result = runner.invoke(app, ["check", str(SG102), "--format", "sarif"])
    assert result.exit_code == 1
    doc = json.loads(result.stdout)
    check_sarif(doc)
    (res,) = [r for r in doc["runs"][0]["results"] if r["ruleId"] == "SG102"]
    location = res["locations"][0]["physicalLocation"]
    assert (
        location["artifactLocation"]["uri"] == "tests/fixtures/bad/SG102-unknown-internal.shim.yaml"
    )
    assert location["region"] == {"startLine": 35, "startColumn": 3}


def test_check_bad_format_exits_2() -> None:
    result = runner.invoke(app, ["check", str(CUSTOMER), "--format", "xml"])
    assert result.exit_code == 2 and "--format must be one of text, json, sarif" in result.stderr


def test_readme_command_table_lists_every_command_and_option() -> None:
    """README's command table is what `--help` shows: every command, every option."""
    import typer.main

    table = (ROOT / "README.md").read_text(encoding="utf-8").split("## Commands", 1)[1]
    rows = [line for line in table.split("\n\n", 2)[1].splitlines() if line.startswith("| `")]
    group = typer.main.get_command(app)
    for name, command in group.commands.items():  # type: ignore[attr-defined]
        mine = [r for r in rows if r.startswith(f"| `shimgen {name}") or f"`shimgen {name}`" in r]
        assert mine, f"README's command table has no row for `shimgen {name}`"
        written = " ".join(r.split(" | ")[0] for r in mine)
        for param in command.params:
            if param.param_type_name != "option" or param.name == "help":
                continue
            shown = [
                o for o in param.opts if re.search(rf"(?<![\w-]){re.escape(o)}(?![\w-])", written)
            ]
            assert shown, f"README's row for `shimgen {name}` does not show {'/'.join(param.opts)}"
