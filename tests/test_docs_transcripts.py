"""The documentation's shell sessions, run: a page that shows a command shows what it prints.

Every ```` ```console ```` fence in README.md and docs/*.md is a shell
transcript in cram syntax (``$ `` a command, ``> `` its continuation, then the
output; ``[1]`` an exit code other than 0; a line ending in ``(glob)`` or
``(re)`` matches output that differs on every run, such as a fresh token).
prysk (the maintained successor of cram) runs each page's transcripts in order
in one shell, in a scratch copy of the repository, and diffs what the commands
print against what the page shows. The page itself is handed to prysk line for
line (prose lines are prysk comments), so a failure's diff names the page's own
line numbers.

A fence that shows a ``$ `` prompt in any other language escapes this test, so
it is refused: a transcript must be a ``console`` fence. In README.md every
shell fence is a transcript, except the few that cannot run inside the test
suite, listed in ``NOT_RUN`` with the reason.

Each generated example's README (``generated_examples/*/README.md``) is run
the same way in a scratch copy of its package: its "Run the service" section
installs the package, makes a keyset and a caller, serves (with a stand-in
internal API when the mapping has proxy routes), asks the service with curl,
stops it and verifies the audit trail. The page's ports 8080 and 8081 are
replaced by free ones, so parallel runs do not collide; nothing else of the
page is changed.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import sysconfig
from pathlib import Path

import prysk.test
import pytest
from markdown_it import MarkdownIt

from tests.expected import ROOT

INDENT = b"  "

PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]

GENERATED = sorted((ROOT / "generated_examples").glob("*/README.md"))
"""The generated packages' READMEs, whose run section serves the shim and calls it."""

PORTS = (b"8080", b"8081")
"""The ports the generated run section uses: the shim's and the stand-in internal API's."""

NOT_RUN = {
    # `make test` is this test suite; `make demo` builds .venv from the network
    # and serves until the demo ends (scripts/demo.py is the same steps as the
    # tour's, against a live service).
    ("README.md", "make demo"),
}
"""(page, first word pair of a shell fence) that the suite cannot run, with why above."""

SHELLS = {"sh", "shell", "bash", "zsh"}


def _fences(page: Path) -> list[tuple[str, str, int, int]]:
    """(language, content, first content line, end line) of each fence, 0-based lines."""
    tokens = MarkdownIt("commonmark").parse(page.read_text(encoding="utf-8"))
    found = []
    for tok in tokens:
        if tok.type == "fence" and tok.map is not None:
            lang = tok.info.split()[0] if tok.info.strip() else ""
            found.append((lang, tok.content, tok.map[0] + 1, tok.map[1] - 1))
    return found


def _as_prysk(page: Path, ports: tuple[int, ...] = ()) -> list[bytes]:
    """The page line for line: transcript lines indented, every other line a comment.

    ``ports`` replace the transcripts' ports 8080 and 8081, in that order.
    """
    lines = page.read_bytes().splitlines(keepends=True)
    inside: set[int] = set()
    for lang, _content, start, end in _fences(page):
        if lang == "console":
            inside.update(range(start, end))
    for shown, port in zip(PORTS, ports, strict=False):
        lines = [
            re.sub(rb"\b" + shown + rb"\b", str(port).encode(), line) if i in inside else line
            for i, line in enumerate(lines)
        ]
    return [INDENT + line if i in inside else line.lstrip(b" ") for i, line in enumerate(lines)]


def _pages_with_transcripts() -> list[Path]:
    return [p for p in PAGES if any(lang == "console" for lang, *_ in _fences(p))]


def _copy_tracked(folder: Path, dest: Path) -> None:
    """The files git tracks under ``folder`` (as a fresh clone has them), copied to ``dest``."""
    listed = subprocess.run(
        ["git", "ls-files", "-z"], cwd=folder, capture_output=True, check=True
    ).stdout.split(b"\0")
    for name in filter(None, listed):
        src = folder / os.fsdecode(name)
        if src.is_file():
            dst = dest / os.fsdecode(name)
            dst.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dst)


def _scratch(tmp: Path) -> dict[str, str]:
    """A fresh clone in ``tmp/repo`` (its files, committed once), and the environment a user
    of the tour has. A page that edits a file to show a finding restores it with
    ``git checkout FILE``, as its reader would."""
    repo = tmp / "repo"
    _copy_tracked(ROOT, repo)
    for args in (["init", "-q"], ["add", "-A"], ["commit", "-q", "--no-verify", "-m", "clone"]):
        subprocess.run(
            ["git", "-c", "user.email=t@example.com", "-c", "user.name=t", *args],
            cwd=repo,
            check=True,
            capture_output=True,
        )
    return _user_env(tmp)


def _user_env(tmp: Path) -> dict[str, str]:
    """The environment of a user with shimgen's .venv active, and a throwaway venv for pip.

    ``shimgen`` and its dependencies come from the test's interpreter (the tour
    starts with .venv activated). ``pip install`` goes to a throwaway venv that
    sees those packages, so a page installs its shim without the network and
    without touching the interpreter the tests run in.
    """
    venv = tmp / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", venv], check=True)
    site = Path(sysconfig.get_path("purelib", vars={"base": str(venv), "platbase": str(venv)}))
    (site / "shimgen-tests.pth").write_text(sysconfig.get_path("purelib") + "\n")
    return {
        **os.environ,
        "PATH": os.pathsep.join([str(venv / "bin"), str(Path(sys.executable).parent)])
        + os.pathsep
        + os.environ.get("PATH", ""),
        "PIP_PYTHON": str(venv / "bin" / "python"),
        "PIP_NO_INDEX": "1",
        "PIP_NO_BUILD_ISOLATION": "0",
        "PIP_DISABLE_PIP_VERSION_CHECK": "1",
        "SHIMGEN_DEBUG": "",
    }


@pytest.mark.parametrize("page", _pages_with_transcripts(), ids=lambda p: p.name)
def test_transcript_prints_what_the_page_shows(
    page: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    env = _scratch(tmp_path)
    repo = tmp_path / "repo"
    monkeypatch.chdir(repo)  # prysk's shell starts in the working directory
    _ins, _outs, diff = prysk.test.test(
        _as_prysk(page), shell="/bin/bash", indent=len(INDENT), env=env, testname=page
    )
    report = b"".join(diff).decode("utf-8", "replace")
    assert not report, (
        f"{page.relative_to(ROOT)} shows other output than its commands print:\n{report}"
    )
    _assert_clean(repo)


def _assert_clean(repo: Path) -> None:
    """A reader who follows a page leaves the repository as the clone was: every file it
    edits is restored (a walkthrough works on a copy, or ends with ``git checkout FILE``),
    and what it writes (the tour's mapping, keys, a generated shim) is ignored by git."""
    status = subprocess.run(
        ["git", "status", "--porcelain", "--untracked-files=all"],
        cwd=repo,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.splitlines()
    assert not status, f"the page leaves the repository changed: {status}"


def _free_ports(count: int) -> tuple[int, ...]:
    """``count`` distinct ports free on the loopback interface now."""
    with contextlib.ExitStack() as stack:
        sockets = [stack.enter_context(socket.socket()) for _ in range(count)]
        for s in sockets:
            s.bind(("127.0.0.1", 0))
        return tuple(int(s.getsockname()[1]) for s in sockets)


@pytest.mark.skipif(shutil.which("curl") is None, reason="the run section calls the shim with curl")
@pytest.mark.parametrize("page", GENERATED, ids=lambda p: p.parent.name)
def test_generated_run_section_serves_and_answers(
    page: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The generated README, run word for word in a copy of its package: a served shim answers."""
    env = _user_env(tmp_path)
    package = tmp_path / page.parent.name
    _copy_tracked(page.parent, package)
    shipped = _files(package)
    monkeypatch.chdir(package)
    try:
        _ins, _outs, diff = prysk.test.test(
            _as_prysk(page, ports=_free_ports(len(PORTS))),
            shell="/bin/bash",
            indent=len(INDENT),
            env=env,
            testname=page,
        )
        report = b"".join(diff).decode("utf-8", "replace")
    finally:
        _stop_left_behind(tmp_path)
    log = tmp_path / f"{page.parent.name.replace('_', '-')}-run" / "serve.log"
    assert not report, (
        f"{page.relative_to(ROOT)} shows other output than its commands print:\n{report}"
        + (f"\nserve.log:\n{log.read_text()}" if log.exists() else "")
    )
    # The run keeps its keys, callers and audit trail outside the generated folder, which
    # `shimgen verify` would otherwise report as tampered (files added by hand).
    assert _files(package) == shipped, sorted(_files(package) - shipped)


def _files(folder: Path) -> set[Path]:
    """The files under ``folder``, without Python's byte-code caches."""
    return {
        p.relative_to(folder)
        for p in folder.rglob("*")
        if p.is_file() and "__pycache__" not in p.parts
    }


def _stop_left_behind(scratch: Path) -> None:
    """Stop a server the page started and a failing page did not stop (found by its cwd)."""
    proc = Path("/proc")
    if not proc.is_dir():
        return
    for entry in proc.iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue  # the test itself stands in the scratch folder (monkeypatch.chdir)
        try:
            cwd = Path(os.readlink(entry / "cwd"))
        except OSError:
            continue
        if cwd.is_relative_to(scratch):
            with contextlib.suppress(OSError):
                os.kill(int(entry.name), signal.SIGKILL)


@pytest.mark.parametrize("page", PAGES + GENERATED, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_transcript_is_a_console_fence(page: Path) -> None:
    """A ``$ `` prompt in a fence of another language would escape the test above."""
    rel = page.relative_to(ROOT).as_posix()
    for lang, content, start, _end in _fences(page):
        first = " ".join(content.split()[:2])
        if lang == "console":
            assert content.startswith("$ "), f"{rel}:{start}: a console fence starts with `$ `"
            continue
        prompts = [line for line in content.splitlines() if line.startswith("$ ")]
        assert not prompts, f"{rel}:{start}: a transcript in a `{lang}` fence; make it `console`"
        if lang in SHELLS and rel == "README.md":
            assert (rel, first) in NOT_RUN, (
                f"{rel}:{start}: a `{lang}` fence is not run; write it as a `console` transcript"
            )
