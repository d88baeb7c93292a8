"""`shimgen verify`: tampered (generated files edited) apart from stale (inputs changed)."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from shimgen.check import check_mapping
from shimgen.cli import app
from shimgen.render.generate import write_package
from shimgen.render.toolchain import toolchain
from shimgen.runtime import __version__ as runtime_version
from shimgen.verify import LOCK, MAX_DIFF_LINES, verify
from tests.expected import ROOT


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A throwaway project: the example mappings and a freshly generated hr shim (two schemas)."""
    (tmp_path / "pyproject.toml").write_text("[project]\nname = 'x'\n")
    shutil.copytree(ROOT / "mappings", tmp_path / "mappings")
    plan = check_mapping(tmp_path / "mappings" / "hr.shim.yaml").plan
    assert plan is not None
    write_package(plan, tmp_path / "out" / "hr_shim")
    return tmp_path


def _cli(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, ["verify", *args])
    return result.exit_code, result.stdout + result.stderr


def test_fresh_shim_is_in_sync(project: Path) -> None:
    verdict = verify(project / "out" / "hr_shim")
    assert verdict.ok, list(verdict.lines())
    code, out = _cli(str(project / "out" / "hr_shim"))
    assert code == 0
    assert "ok, in sync with mappings/hr.shim.yaml" in out


def test_edited_generated_file_is_tampered_not_stale(project: Path) -> None:
    shim = project / "out" / "hr_shim"
    target = shim / "hr_shim" / "translate.py"
    target.write_text(target.read_text() + "\n# quick fix\n")
    verdict = verify(shim)
    assert (verdict.tampered, verdict.stale) == (True, False)
    assert verdict.edited == ["hr_shim/translate.py"]
    code, out = _cli(str(shim))
    assert code == 1
    assert "tampered: 1 generated file(s) changed by hand" in out
    assert "edited   hr_shim/translate.py" in out
    assert "stale" not in out


def test_deleted_and_added_files_are_tampered(project: Path) -> None:
    shim = project / "out" / "hr_shim"
    (shim / "Dockerfile").unlink()
    (shim / "hr_shim" / "extra.py").write_text("x = 1\n")
    verdict = verify(shim)
    assert verdict.missing == ["Dockerfile"]
    assert verdict.added == ["hr_shim/extra.py"]
    assert not verdict.stale


def test_what_running_the_package_leaves_behind_is_ignored(project: Path) -> None:
    shim = project / "out" / "hr_shim"
    for leftover in ("hr_shim/__pycache__/app.cpython-311.pyc", ".pytest_cache/v/x", "a.pyc"):
        (shim / leftover).parent.mkdir(parents=True, exist_ok=True)
        (shim / leftover).write_bytes(b"\0")
    assert verify(shim).ok


def test_edited_lock_with_the_same_inputs_is_tampered(project: Path) -> None:
    shim = project / "out" / "hr_shim"
    lock = json.loads((shim / LOCK).read_text())
    lock["mapping"]["version"] = 99
    (shim / LOCK).write_text(json.dumps(lock, indent=2) + "\n")
    verdict = verify(shim)
    assert verdict.edited == [LOCK]
    assert not verdict.stale


def test_changed_mapping_is_stale_and_names_the_files_it_changes(project: Path) -> None:
    mapping = project / "mappings" / "hr.shim.yaml"
    mapping.write_text(mapping.read_text().replace("version: ", "version: 1", 1))
    verdict = verify(project / "out" / "hr_shim")
    assert (verdict.stale, verdict.tampered) == (True, False)
    assert verdict.changed_inputs == ["mappings/hr.shim.yaml"]
    assert "hr_shim/__init__.py" in verdict.regenerated  # the version is compiled in
    code, out = _cli(str(project / "out" / "hr_shim"))
    assert code == 1
    assert "stale: regenerating from mappings/hr.shim.yaml gives other files" in out
    assert "input changed  mappings/hr.shim.yaml" in out
    assert "fix: shimgen generate mappings/hr.shim.yaml -o" in out


def test_comment_only_change_is_still_stale(project: Path) -> None:
    """What was reviewed is the file: any byte of it changing means the lock no longer matches."""
    mapping = project / "mappings" / "hr.shim.yaml"
    mapping.write_text(mapping.read_text() + "# reviewed again\n")
    verdict = verify(project / "out" / "hr_shim")
    assert verdict.changed_inputs == ["mappings/hr.shim.yaml"]
    assert verdict.stale and not verdict.tampered


def test_changed_second_schema_file_is_named(project: Path) -> None:
    schema = project / "mappings" / "schemas" / "hr.directory.json"
    doc = json.loads(schema.read_text())
    doc["description"] = "edited"
    schema.write_text(json.dumps(doc, indent=2))
    verdict = verify(project / "out" / "hr_shim")
    assert verdict.changed_inputs == ["mappings/schemas/hr.directory.json"]


def test_inputs_that_no_longer_check_are_stale(project: Path) -> None:
    mapping = project / "mappings" / "hr.shim.yaml"
    mapping.write_text(mapping.read_text().replace("version: ", "version: -", 1))
    verdict = verify(project / "out" / "hr_shim")
    assert verdict.stale
    assert verdict.check_errors and "SG005" in verdict.check_errors[0]


def test_tampered_and_stale_are_both_reported(project: Path) -> None:
    shim = project / "out" / "hr_shim"
    (shim / "README.md").write_text("hand-written\n")
    mapping = project / "mappings" / "hr.shim.yaml"
    mapping.write_text(mapping.read_text() + "\n")
    verdict = verify(shim)
    assert verdict.tampered and verdict.stale
    text = "\n".join(verdict.lines())
    assert text.index("tampered") < text.index("stale")


def test_unverifiable_directories_exit_2(project: Path, tmp_path: Path) -> None:
    code, out = _cli(str(tmp_path / "nothing-here"))
    assert code == 2 and "not a generated shim" in out
    (project / "mappings" / "schemas" / "hr.employee.json").unlink()
    code, out = _cli(str(project / "out" / "hr_shim"))
    assert code == 2 and "names input mappings/schemas/hr.employee.json" in out
    (project / "out" / "hr_shim" / LOCK).write_text("{not json")
    code, out = _cli(str(project / "out" / "hr_shim"))
    assert code == 2 and "cannot be read" in out


def test_root_option_for_a_shim_kept_outside_the_project(project: Path, tmp_path: Path) -> None:
    moved = tmp_path.parent / f"{tmp_path.name}-elsewhere" / "hr_shim"
    shutil.copytree(project / "out" / "hr_shim", moved)
    code, _ = _cli(str(moved), "--root", str(project))
    assert code == 0
    shutil.rmtree(moved.parent)


def test_build_artefacts_at_the_top_are_ignored_and_named(project: Path) -> None:
    """What `pip install DIR` with setuptools (older shims) or a venv leaves is no hand edit."""
    shim = project / "out" / "hr_shim"
    for leftover in (
        "build/lib/hr_shim/translate.py",
        "hr_shim.egg-info/PKG-INFO",
        "dist/hr_shim-1.tar.gz",
        ".venv/bin/python",
        "hr_shim/runtime/.ruff_cache/x",
    ):
        (shim / leftover).parent.mkdir(parents=True, exist_ok=True)
        (shim / leftover).write_text("x\n")
    verdict = verify(shim)
    assert verdict.ok, list(verdict.lines())
    code, out = _cli(str(shim))
    assert code == 0
    assert (
        "ignored build artefacts (not generated): .venv/, build/, dist/, hr_shim.egg-info/" in out
    )


def test_a_build_folder_inside_the_package_is_still_added(project: Path) -> None:
    """Only the top level is a build area: inside the package a file would be shipped."""
    shim = project / "out" / "hr_shim"
    (shim / "hr_shim" / "build").mkdir()
    (shim / "hr_shim" / "build" / "evil.py").write_text("x = 1\n")
    assert verify(shim).added == ["hr_shim/build/evil.py"]


@pytest.fixture
def loose(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Outside any project: mapping and schemas in one folder, generate run from there."""
    work = tmp_path / "work"
    work.mkdir()
    for name in ("hr.shim.yaml",):
        shutil.copy(ROOT / "mappings" / name, work / name)
    shutil.copytree(ROOT / "mappings" / "schemas", work / "schemas")
    monkeypatch.chdir(work)
    assert not any((p / ".git").exists() or (p / "pyproject.toml").exists() for p in work.parents)
    result = CliRunner().invoke(app, ["generate", "hr.shim.yaml", "-o", "out/hr_shim"])
    assert result.exit_code == 0, result.stderr
    return work


def test_outside_a_project_from_the_folder_that_ran_generate(loose: Path) -> None:
    code, out = _cli("out/hr_shim")
    assert code == 0, out
    assert "ok, in sync with hr.shim.yaml" in out


def test_outside_a_project_from_inside_the_shim(
    loose: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(loose / "out" / "hr_shim")
    code, out = _cli(".")
    assert code == 0, out


def test_outside_a_project_the_changed_mapping_is_found_and_stale(
    loose: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (loose / "hr.shim.yaml").write_text((loose / "hr.shim.yaml").read_text() + "# again\n")
    monkeypatch.chdir(loose.parent)
    code, out = _cli(str(loose / "out" / "hr_shim"))
    assert code == 1 and "input changed  hr.shim.yaml" in out


def test_schemas_outside_the_mapping_folder_are_found_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A mapping next to nothing, its schemas in a shared folder elsewhere (new-user walk):
    the lock recorded only the schemas' names, so verify could never find them."""
    mapping_dir, shared = tmp_path / "team" / "map", tmp_path / "shared" / "schemas"
    mapping_dir.mkdir(parents=True)
    shutil.copytree(ROOT / "mappings" / "schemas", shared)
    text = (ROOT / "mappings" / "hr.shim.yaml").read_text()
    (mapping_dir / "hr.shim.yaml").write_text(text.replace("schemas/", "../../shared/schemas/"))
    monkeypatch.chdir(mapping_dir)
    result = CliRunner().invoke(app, ["generate", "hr.shim.yaml", "-o", str(tmp_path / "out")])
    assert result.exit_code == 0, result.stderr
    lock = json.loads((tmp_path / "out" / LOCK).read_text())
    assert "../../shared/schemas/hr.employee.json" in lock["inputs"]
    code, out = _cli(str(tmp_path / "out"))
    assert code == 0, out
    (shared / "hr.employee.json").write_text((shared / "hr.employee.json").read_text() + "\n")
    code, out = _cli(str(tmp_path / "out"))
    assert code == 1 and "input changed  ../../shared/schemas/hr.employee.json" in out, out


def test_mapping_found_nowhere_says_where_it_looked(loose: Path, tmp_path: Path) -> None:
    moved = tmp_path / "elsewhere" / "hr_shim"
    shutil.copytree(loose / "out" / "hr_shim", moved)
    (loose / "hr.shim.yaml").unlink()
    code, out = _cli(str(moved))
    assert code == 2
    assert "names mapping hr.shim.yaml, not found under" in out and "--root" in out


def test_help_states_the_default_root() -> None:
    result = CliRunner().invoke(app, ["verify", "--help"])
    text = " ".join(result.stdout.split())  # help is wrapped to the terminal's width
    assert "Default: the first of the project holding the shim" in text


# -- what changed: the edit as a diff, the toolchain by name -------------------


def _rewrite_lock(shim: Path, change: dict[str, object]) -> dict[str, object]:
    lock: dict[str, object] = json.loads((shim / LOCK).read_text())
    lock.update(change)
    (shim / LOCK).write_text(json.dumps(lock, indent=2) + "\n")
    return lock


def test_an_edited_file_is_shown_as_a_unified_diff(project: Path) -> None:
    shim = project / "out" / "hr_shim"
    target = shim / "hr_shim" / "translate.py"
    lines = target.read_text().splitlines(keepends=True)
    lines[3] = "# hand edit\n"
    target.write_text("".join(lines))
    verdict = verify(shim)
    diff = verdict.diffs["hr_shim/translate.py"]
    assert diff[:2] == [
        "--- hr_shim/translate.py (generated)",
        "+++ hr_shim/translate.py (on disk)",
    ]
    assert "+# hand edit" in diff and any(line.startswith("-") for line in diff[2:])
    code, out = _cli(str(shim))
    assert code == 1 and "    +# hand edit" in out


def test_a_long_diff_is_cut(project: Path) -> None:
    shim = project / "out" / "hr_shim"
    target = shim / "README.md"
    target.write_text("".join(f"line {i}\n" for i in range(500)))
    diff = verify(shim).diffs["README.md"]
    assert len(diff) == MAX_DIFF_LINES + 1
    assert diff[-1].startswith("... ") and diff[-1].endswith(" more diff line(s) not shown")


def test_a_new_runtime_version_is_named_as_the_cause(project: Path) -> None:
    """The runtime changed since generation: the copy on disk matches the lock, not today's."""
    shim = project / "out" / "hr_shim"
    target = shim / "hr_shim" / "runtime" / "core" / "errors.py"
    target.write_text(target.read_text() + "# the older runtime\n")
    lock = json.loads((shim / LOCK).read_text())
    lock["files"]["hr_shim/runtime/core/errors.py"] = _sha(target)
    lock["toolchain"]["runtime"] = "0.0.9"
    _rewrite_lock(shim, lock)
    verdict = verify(shim)
    assert (verdict.stale, verdict.tampered) == (True, False)
    assert verdict.regenerated == ["hr_shim/runtime/core/errors.py"]
    text = "\n".join(verdict.lines())
    assert f"toolchain      runtime 0.0.9 in the lock, {runtime_version} now" in text
    assert "input changed" not in text


def test_runtime_files_changed_without_a_new_version_say_so(project: Path) -> None:
    shim = project / "out" / "hr_shim"
    target = shim / "hr_shim" / "runtime" / "core" / "errors.py"
    target.write_text(target.read_text() + "# the older runtime\n")
    lock = json.loads((shim / LOCK).read_text())
    lock["files"]["hr_shim/runtime/core/errors.py"] = _sha(target)
    _rewrite_lock(shim, lock)
    text = "\n".join(verify(shim).lines())
    assert "runtime files differ under the same runtime version (it was not raised)" in text


def test_another_formatter_version_with_the_same_files_is_in_sync(project: Path) -> None:
    shim = project / "out" / "hr_shim"
    lock = json.loads((shim / LOCK).read_text())
    lock["toolchain"]["ruff"] = "0.0.1"
    _rewrite_lock(shim, lock)
    verdict = verify(shim)
    assert verdict.ok, list(verdict.lines())
    assert f"same files, other toolchain: ruff 0.0.1 in the lock, {toolchain()['ruff']} now" in (
        "\n".join(verdict.lines())
    )


def test_a_lock_from_before_the_toolchain_field_still_verifies(project: Path) -> None:
    shim = project / "out" / "hr_shim"
    lock = json.loads((shim / LOCK).read_text())
    del lock["toolchain"]
    (shim / LOCK).write_text(json.dumps(lock, indent=2) + "\n")
    verdict = verify(shim)
    assert verdict.ok, list(verdict.lines())
    assert any(
        f"runtime unrecorded in the lock, {runtime_version} now" in x for x in verdict.lines()
    )


def test_the_lock_records_the_toolchain(project: Path) -> None:
    lock = json.loads((project / "out" / "hr_shim" / LOCK).read_text())
    assert lock["toolchain"] == toolchain()
    assert list(lock["toolchain"]) == ["runtime", "ruff", "datamodel-code-generator"]
    assert lock["toolchain"]["runtime"] == runtime_version


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()
