"""docs/reviewing.md walks through a real change; its quoted output must stay what shimgen prints."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
from typer.testing import CliRunner

from shimgen.cli import app
from tests.expected import ROOT

DOC = ROOT / "docs" / "reviewing.md"
MAPPING = "mappings/customer.shim.yaml"
PHONE_BEFORE = "  phone:          {to: contact.phone, treat: {mask: {keep_last: 4}}, why: "
PHONE_AFTER = """  phone:
    to: contact.phone
    treat: {mask: {keep_last: 4}}
    groups: {billing: pass}
    why: billing calls customers back about failed payments; support and partners confirm a caller by the last four digits
"""


def propose(repo: Path, *, bump: bool) -> None:
    """The change the walkthrough reviews: billing sees full phone numbers."""
    lines = (ROOT / MAPPING).read_text(encoding="utf-8").splitlines(keepends=True)
    [i] = [n for n, line in enumerate(lines) if line.startswith(PHONE_BEFORE)]
    lines[i] = PHONE_AFTER
    text = "".join(lines)
    if bump:
        text = text.replace("\nversion: 5\n", "\nversion: 6\n")
    (repo / MAPPING).write_text(text, encoding="utf-8")


@pytest.fixture
def repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A git repository holding the example mappings, as a team's mapping repository would."""
    shutil.copytree(ROOT / "mappings", tmp_path / "mappings")
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@example.com"]
    subprocess.run([*git, "init", "-q"], cwd=tmp_path, check=True)
    subprocess.run([*git, "add", "-A"], cwd=tmp_path, check=True)
    subprocess.run([*git, "commit", "-q", "-m", "base"], cwd=tmp_path, check=True)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def _shimgen(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, list(args))
    return result.exit_code, result.stdout


def test_quoted_outputs_are_current(repo: Path) -> None:
    doc = DOC.read_text(encoding="utf-8")
    assert PHONE_AFTER in doc

    propose(repo, bump=False)
    code, out = _shimgen("diff", f"HEAD:{MAPPING}", MAPPING)
    assert code == 1
    assert out in doc, out

    code, out = _shimgen("lint", "--ruleset", "mappings/ruleset.yaml", "--base", "HEAD", MAPPING)
    assert code == 0
    assert "warn[version-bump]" in out and out in doc, out

    propose(repo, bump=True)
    code, out = _shimgen("diff", f"HEAD:{MAPPING}", MAPPING, "--format", "md")
    assert code == 0
    assert out in doc, out

    code, out = _shimgen("review", MAPPING)
    assert code == 0
    rows = [line for line in out.splitlines() if line.startswith("| `phone` |")]
    assert len(rows) == 2 and all(row in doc for row in rows), rows
