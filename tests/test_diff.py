"""``shimgen diff``: the acceptance fixture pair, output formats, exit codes, git sides."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
from typer.testing import CliRunner

from shimgen.cli import app
from shimgen.diff import Kind, diff_specs
from shimgen.diff.source import _subtree, parse_git_spec
from tests.conftest import skip_or_fail
from tests.diff_support import FIXTURES, OLD

ROOT = Path(__file__).resolve().parent.parent
runner = CliRunner()
SAME = FIXTURES / "new_same_version.shim.yaml"
BUMPED = FIXTURES / "new_bumped.shim.yaml"


def run(*args: str) -> tuple[int, str, str]:
    result = runner.invoke(app, ["diff", *args])
    return result.exit_code, result.stdout, result.stderr


def test_mask_to_pass_without_bump_is_loosened_and_fails() -> None:
    code, out, _ = run(str(OLD), str(SAME))
    assert code == 1
    assert "FAIL: loosened without a version bump" in out
    loosened = out.split("LOOSENED (MORE EXPOSURE): 1")[1].split("NEUTRAL")[0]
    assert "fields.phone [support, billing, no group]: mask(" in loosened
    assert "→ pass" in loosened


def test_mask_to_pass_with_bump_passes_and_is_still_listed() -> None:
    code, out, _ = run(str(OLD), str(BUMPED))
    assert code == 0
    assert "1 loosened, 1 neutral, version 1 → 2" in out
    assert "fields.phone [support, billing, no group]" in out


def test_loosened_comes_first() -> None:
    result = diff_specs(str(SAME), str(OLD))  # pass -> mask (tightened), why removed (loosened)
    kinds = [c.kind for c in result.sorted()]
    assert kinds == [Kind.LOOSENED, Kind.TIGHTENED]
    assert result.loosened[0].reason == "the justification (`why:`) was removed"


def test_markdown_for_a_pull_request(tmp_path: Path) -> None:
    out_file = tmp_path / "comment.md"
    code, _, err = run(str(OLD), str(SAME), "--format", "md", "-o", str(out_file))
    assert code == 1 and "wrote" in err
    md = out_file.read_text()
    assert md.startswith("### shimgen diff `person`: 1 loosened, 1 neutral, version 1 (not bumped)")
    assert md.index("#### Loosened") < md.index("#### Neutral")
    assert "| `fields.phone` | support, billing, no group | `mask(" in md
    assert md.count("| Change | Views | Old | New | Why it matters | Where |") == 2


def test_identical_sides_have_no_changes() -> None:
    code, out, _ = run(str(OLD), str(OLD))
    assert code == 0 and "no changes" in out
    _, md, _ = run(str(OLD), str(OLD), "--format", "md")
    assert "No changes to what crosses the boundary." in md


def test_line_numbers_point_into_new_or_old() -> None:
    [loosened] = diff_specs(str(OLD), str(SAME)).loosened
    assert loosened.line == 17 and not loosened.in_old


def test_unreadable_or_failing_side_exits_2(tmp_path: Path) -> None:
    code, _, err = run(str(tmp_path / "missing.shim.yaml"), str(OLD))
    assert code == 2 and "cannot read the mapping file" in err
    broken = tmp_path / "broken.shim.yaml"
    broken.write_text(OLD.read_text().replace("notes:       drop\n", ""))
    code, _, err = run(str(OLD), str(broken))
    assert code == 2 and "SG" in err and "does not check" in err
    code, _, err = run(str(OLD), str(OLD), "--format", "html")
    assert code == 2 and "unknown format" in err


# -- REV:PATH ------------------------------------------------------------------------


def git(repo: Path, *args: str) -> str:
    env_args = ["-c", "user.name=t", "-c", "user.email=t@example.com", "-c", "commit.gpgsign=false"]
    return subprocess.run(
        ["git", *env_args, "-C", str(repo), *args], check=True, capture_output=True, text=True
    ).stdout


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """A git repository whose two commits hold the old and the un-bumped new fixture."""
    if shutil.which("git") is None:
        skip_or_fail("git is not installed")
    root = tmp_path / "repo"
    shutil.copytree(FIXTURES, root / "maps")
    git(root, "init", "-q")
    shutil.copy(OLD, root / "maps" / "person.shim.yaml")
    git(root, "add", ".")
    git(root, "commit", "-q", "-m", "old")
    shutil.copy(SAME, root / "maps" / "person.shim.yaml")
    git(root, "commit", "-q", "-am", "new")
    return root


def test_rev_path_from_git(repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(repo)
    code, out, _ = run("HEAD~1:maps/person.shim.yaml", "maps/person.shim.yaml")
    assert code == 1
    assert "HEAD~1:maps/person.shim.yaml → maps/person.shim.yaml" in out
    assert "fields.phone" in out
    code, out, _ = run("HEAD~1:maps/person.shim.yaml", "HEAD:maps/person.shim.yaml")
    assert code == 1


def test_ref_outside_the_archived_directory_widens_to_the_tree(
    repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A $ref that reaches past the first archived directory is found in the whole tree."""
    (repo / "common").mkdir()
    (repo / "common" / "types.json").write_text('{"$defs": {"Note": {"type": "string"}}}')
    schema = repo / "maps" / "schemas" / "person.internal.json"
    schema.write_text(
        schema.read_text().replace(
            '"notes": {"type": "string"}',
            '"notes": {"$ref": "../../common/types.json#/$defs/Note"}',
        )
    )
    git(repo, "add", ".")
    git(repo, "commit", "-q", "-m", "shared types")
    monkeypatch.chdir(repo)
    assert _subtree(parse_git_spec("HEAD:maps/person.shim.yaml", repo)) == "maps"
    result = diff_specs("HEAD~1:maps/person.shim.yaml", "HEAD:maps/person.shim.yaml")
    assert result.changes == []


def test_rev_dot_path_is_relative_to_cwd(repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(repo / "maps")
    result = diff_specs("HEAD~1:./person.shim.yaml", "person.shim.yaml")
    assert [c.subject for c in result.loosened] == ["fields.phone"]


def test_schema_outside_the_mapping_directory(repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A schema path that leaves the mapping's directory is archived too."""
    (repo / "other").mkdir()
    moved = (repo / "maps" / "person.shim.yaml").read_text()
    (repo / "other" / "p.shim.yaml").write_text(moved.replace("schemas/", "../maps/schemas/"))
    git(repo, "add", ".")
    git(repo, "commit", "-q", "-m", "moved")
    monkeypatch.chdir(repo)
    result = diff_specs("HEAD:other/p.shim.yaml", "maps/person.shim.yaml")
    assert {(c.kind, c.subject) for c in result.changes} == {
        (Kind.NEUTRAL, "internal"),
        (Kind.NEUTRAL, "external"),
    }
    where = parse_git_spec("HEAD:other/p.shim.yaml", repo)
    assert _subtree(where) == ""  # other/ and maps/schemas/ meet at the root


def test_bad_rev_or_path_exits_2(repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(repo)
    code, _, err = run("nosuchrev:maps/person.shim.yaml", "maps/person.shim.yaml")
    assert code == 2 and "unknown revision `nosuchrev`" in err
    code, _, err = run("HEAD~1:maps/nothere.shim.yaml", "maps/person.shim.yaml")
    assert code == 2 and "does not exist at `HEAD~1`" in err


def test_failing_side_at_a_revision_names_rev_path(
    repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = repo / "maps" / "person.shim.yaml"
    path.write_text(path.read_text().replace("notes:       drop\n", ""))
    git(repo, "commit", "-q", "-am", "broken")
    monkeypatch.chdir(repo)
    code, _, err = run("HEAD:maps/person.shim.yaml", "HEAD~1:maps/person.shim.yaml")
    assert code == 2
    assert "HEAD:maps/person.shim.yaml:" in err and "shimgen-diff-" not in err


def test_customer_history_of_this_repository(monkeypatch: pytest.MonkeyPatch) -> None:
    """version 3 (d3acb1c) → 4 (4d6a58a) added an upstream and two proxy routes."""
    probe = subprocess.run(
        ["git", "-C", str(ROOT), "cat-file", "-e", "4d6a58a:mappings/customer.shim.yaml"],
        capture_output=True,
        check=False,
    )
    if probe.returncode != 0:
        skip_or_fail(
            f"the history of this repository is not available (a shallow clone?): {probe.stderr!r}"
        )
    monkeypatch.chdir(ROOT)
    result = diff_specs(
        "d3acb1c:mappings/customer.shim.yaml", "4d6a58a:mappings/customer.shim.yaml"
    )
    assert [c.subject for c in result.loosened] == [
        "route GET /customers/{customerId}",
        "route PATCH /customers/{customerId}",
    ]
    assert result.bumped and result.exit_code == 0


def test_docs_show_the_current_output(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)
    docs = (ROOT / "docs" / "diff.md").read_text(encoding="utf-8")
    _, out, _ = run(
        "tests/fixtures/diff/old.shim.yaml", "tests/fixtures/diff/new_same_version.shim.yaml"
    )
    assert out in docs
