"""The hooks in .pre-commit-hooks.yaml, run by pre-commit itself from a consumer repository.

pre-commit installs shimgen from a clone of this repository (the committed code, with the
working tree's hook manifest on top) into its own environment, as it would for any user.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.expected import ROOT

BIN = Path(sys.executable).parent
PRE_COMMIT = str(BIN / "pre-commit")
GIT = ["git", "-c", "user.name=test", "-c", "user.email=test@example.com"]


def _git(cwd: Path, *args: str) -> str:
    return subprocess.run(
        [*GIT, *args], cwd=cwd, check=True, capture_output=True, text=True
    ).stdout.strip()


@pytest.fixture(scope="module")
def hooks_repo(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """A clone of this repository whose HEAD carries the working tree's hook manifest."""
    clone = tmp_path_factory.mktemp("shimgen-hooks") / "shimgen"
    subprocess.run(["git", "clone", "-q", str(ROOT), str(clone)], check=True)
    shutil.copy(ROOT / ".pre-commit-hooks.yaml", clone / ".pre-commit-hooks.yaml")
    _git(clone, "add", ".pre-commit-hooks.yaml")
    _git(clone, "commit", "-q", "--allow-empty", "-m", "hooks under test")
    return clone, _git(clone, "rev-parse", "HEAD")


@pytest.fixture
def consumer(tmp_path: Path, hooks_repo: tuple[Path, str]) -> Path:
    """A project using the hooks: the example mappings and a generated customer shim."""
    repo, rev = hooks_repo
    project = tmp_path / "consumer"
    project.mkdir()
    (project / "pyproject.toml").write_text("[project]\nname = 'consumer'\n")
    shutil.copytree(ROOT / "mappings", project / "mappings")
    subprocess.run(
        [
            str(BIN / "shimgen"),
            "generate",
            "mappings/customer.shim.yaml",
            "-o",
            "shims/customer_shim",
        ],
        cwd=project,
        check=True,
        capture_output=True,
    )
    (project / ".pre-commit-config.yaml").write_text(
        f"""repos:
  - repo: {repo}
    rev: {rev}
    hooks:
      - id: shimgen-check
      - id: shimgen-lint
        args: [--ruleset, mappings/ruleset.yaml]
      - id: shimgen-verify
        args: [shims/customer_shim]
"""
    )
    _git(project, "init", "-q")
    _git(project, "add", "-A")
    _git(project, "commit", "-q", "-m", "init")
    return project


def _run_hooks(project: Path, home: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PRE_COMMIT_HOME": str(home)}
    return subprocess.run(
        [PRE_COMMIT, "run", "--all-files", "--color", "never"],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("pre-commit-home")  # one hook environment for every test


def test_hooks_pass_on_a_clean_project(consumer: Path, home: Path) -> None:
    done = _run_hooks(consumer, home)
    assert done.returncode == 0, done.stdout + done.stderr
    for name in ("shimgen check", "shimgen lint", "shimgen verify"):
        assert any(
            line.startswith(name) and line.endswith("Passed") for line in done.stdout.splitlines()
        ), done.stdout


def test_hooks_fail_on_a_bad_mapping_and_an_edited_shim(consumer: Path, home: Path) -> None:
    mapping = consumer / "mappings" / "orders.shim.yaml"
    mapping.write_text(mapping.read_text().replace("version: ", "version: -", 1))
    readme = consumer / "shims" / "customer_shim" / "README.md"
    readme.write_text(readme.read_text() + "edited by hand\n")
    done = _run_hooks(consumer, home)
    assert done.returncode == 1
    out = done.stdout
    assert "mappings/orders.shim.yaml:" in out and "SG005" in out  # check (and lint) name it
    assert "tampered" in out and "edited   README.md" in out  # verify names the file
    assert any(
        line.startswith("shimgen verify") and line.endswith("Failed") for line in out.splitlines()
    ), out
