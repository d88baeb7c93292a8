"""``<name>-shim access ...``: the command line drives the grant endpoints and says what happened.

The CLI is run in-process against a real app (Starlette's TestClient is an
httpx client, so the CLI's own request code is what runs); credentials come
from the environment only.
"""

from __future__ import annotations

import contextlib
import io
import json
from pathlib import Path

import pytest

from shimgen.runtime.service import access_cli, auth, cli
from tests.expected import ROOT
from tests.security.elevation_support import cluster, key, outbound
from tests.service_support import KEYS_FILE


@pytest.fixture(autouse=True)
def _keys_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SHIM_KEYS_FILE", str(KEYS_FILE))
    monkeypatch.delenv("SHIM_KEYS", raising=False)
    monkeypatch.delenv("PROMETHEUS_MULTIPROC_DIR", raising=False)
    monkeypatch.delenv("SHIM_API_KEY", raising=False)
    monkeypatch.delenv("SHIM_TOKEN", raising=False)


def run(client: object, who: str, *argv: str, monkeypatch: pytest.MonkeyPatch) -> int:
    monkeypatch.setenv("SHIM_API_KEY", key(who))
    return access_cli.main(list(argv), "customer-shim", client=client)


def test_request_approve_list_revoke(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    with cluster(tmp_path, workers=1) as c:
        client = c.clients[0]
        args = ("request", "billing", "--reason", "INC-77", "--seconds", "600", "--ticket", "CHG-1")
        assert run(client, "dave", *args, monkeypatch=monkeypatch) == 0
        shown = capsys.readouterr().out
        gid = shown.split()[0]
        assert gid.startswith("g-") and "pending" in shown and "waiting for 2 approval" in shown
        assert run(client, "dave", "approve", gid, monkeypatch=monkeypatch) == 1
        assert "cannot be approved by the caller who requested it" in capsys.readouterr().err
        assert run(client, "bob", "approve", gid, "--reason", "ok", monkeypatch=monkeypatch) == 0
        assert run(client, "carol", "approve", gid, monkeypatch=monkeypatch) == 0
        assert "active" in capsys.readouterr().out
        assert outbound(client, "dave").status_code == 200
        assert run(client, "bob", "list", monkeypatch=monkeypatch) == 0
        listed = capsys.readouterr().out
        assert gid in listed
        # the approver reads what was asked for without --json
        assert 'reason "INC-77", ticket "CHG-1", 600 s' in listed
        assert run(client, "dave", "revoke", gid, monkeypatch=monkeypatch) == 0
        assert outbound(client, "dave").status_code == 403
        assert run(client, "dave", "--json", "list", monkeypatch=monkeypatch) == 0
        assert '"state":"revoked"' in capsys.readouterr().out
        assert run(client, "dave", "list", monkeypatch=monkeypatch) == 0
        line = next(x for x in capsys.readouterr().out.splitlines() if x.startswith(gid))
        # a revoked grant says when it was revoked and by whom, not the end it no longer has
        assert ", revoked at " in line and "by key:dave" in line and "until" not in line


def test_an_empty_list_says_so(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """No grants is a line, not silence; --json stays the shim's answer alone."""
    with cluster(tmp_path, workers=1) as c:
        assert run(c.clients[0], "dave", "list", monkeypatch=monkeypatch) == 0
        assert (
            capsys.readouterr().out == "no grants: none of yours, nor of the groups you approve\n"
        )
        assert run(c.clients[0], "dave", "list", "--json", monkeypatch=monkeypatch) == 0
        assert json.loads(capsys.readouterr().out) == {"grants": [], "review": []}


def test_break_glass_and_a_bad_id(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    with cluster(tmp_path, workers=1) as c:
        client = c.clients[0]
        glass = ("request", "billing", "--reason", "outage", "--break-glass")
        assert run(client, "erin", *glass, monkeypatch=monkeypatch) == 0
        assert "BREAK-GLASS" in capsys.readouterr().out
        assert run(client, "bob", "deny", "../../v1/outbound", monkeypatch=monkeypatch) == 1
        assert "(404)" in capsys.readouterr().err


def test_credentials_come_from_the_environment(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    assert access_cli.main(["list"], "customer-shim") == 2
    assert "SHIM_API_KEY" in capsys.readouterr().err
    for argv in (["list", "--api-key", "secret"], ["--api-key", "secret", "list"]):
        # no such flag, nor an abbreviation of --api-key-file: a usage error from argparse
        with pytest.raises(SystemExit) as exited:
            access_cli.main(argv, "customer-shim")
        assert exited.value.code == 2 and "--api-key-file:" not in capsys.readouterr().err
    keyfile = tmp_path / "key"
    keyfile.write_text(key("bob") + "\n", encoding="utf-8")
    with cluster(tmp_path / "shim", workers=1) as c:
        argv = ["--api-key-file", str(keyfile), "list"]
        assert access_cli.main(argv, "customer-shim", client=c.clients[0]) == 0


def test_api_key_file_written_by_callers_new_key(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The README has each caller run `callers new-key > caller.txt`: that file works as is.

    The file is new-key's real output, with its fresh key swapped for one the test
    shim's callers file knows (the shape is what is under test); a bare key works too.
    """
    with contextlib.redirect_stdout(io.StringIO()) as out:
        assert auth.main(["new-key"]) == 0
    written = out.getvalue()
    fresh = next(line for line in written.splitlines() if line.startswith("key:")).split()[1]
    path = tmp_path / "caller.txt"
    with cluster(tmp_path / "shim", workers=1) as c:
        for text in (written.replace(fresh, key("dave")), key("dave") + "\n"):
            path.write_text(text, encoding="utf-8")
            argv = ["--api-key-file", str(path), "list"]
            assert access_cli.main(argv, "customer-shim", client=c.clients[0]) == 0, text
            err = capsys.readouterr().err  # (also holds the shim's log lines)
            assert "--api-key-file" not in err and "refused" not in err


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("", "the file is empty"),
        ("hash: sha256:abc\n", "the first line is not an API key"),
        ("sha256:abc\n", "the first line is not an API key"),
        ("# Give the key to the caller\n", "the first line is not an API key"),
        ("X-API-Key: abc\n", "the first line is not an API key"),
    ],
)
def test_api_key_file_without_a_key_is_refused_before_sending(
    text: str, why: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Sent as the key, such a line is a bare 401; the CLI says what the file must hold."""
    path = tmp_path / "caller.txt"
    path.write_text(text, encoding="utf-8")
    client = _NoCalls()
    assert access_cli.main(["list", "--api-key-file", str(path)], "hr-shim", client=client) == 2
    err = capsys.readouterr().err
    assert f"--api-key-file {path}: {why}" in err
    assert "bare API key on its first line" in err and "`hr-shim callers new-key > FILE`" in err
    assert err.count("error:") == 1  # not followed by "no credentials"


class _NoCalls:
    """A client that fails the test if the CLI sends anything."""

    def request(self, *args: object, **kwargs: object) -> None:
        raise AssertionError("the CLI sent a request with a file that holds no key")


@pytest.mark.parametrize("where", ["before", "after"])
def test_unreachable_shim_is_exit_3(
    where: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("SHIM_API_KEY", "k")
    url = ["--url", "http://127.0.0.1:9"]
    argv = [*url, "list"] if where == "before" else ["list", *url]
    assert access_cli.main(argv, "customer-shim") == 3
    err = capsys.readouterr().err
    assert "cannot reach the shim at http://127.0.0.1:9" in err
    assert "(give its address with --url or SHIM_URL)" in err


@pytest.mark.parametrize("where", ["before", "after"])
def test_common_options_go_before_or_after_the_command(
    where: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``access list --json`` and ``access --json list`` alike (the README writes the first)."""
    keyfile = tmp_path / "key"
    keyfile.write_text(key("dave") + "\n", encoding="utf-8")
    with cluster(tmp_path / "shim", workers=1) as c:
        client = c.clients[0]
        request = ["request", "billing", "--reason", "INC-5"]
        common = ["--api-key-file", str(keyfile), "--json"]
        argv = [*common, *request] if where == "before" else [*request, *common]
        assert access_cli.main(argv, "customer-shim", client=client) == 0
        gid = json.loads(capsys.readouterr().out)["grant"]["id"]
        argv = [*common, "list"] if where == "before" else ["list", *common]
        assert access_cli.main(argv, "customer-shim", client=client) == 0
        listed = json.loads(capsys.readouterr().out)  # --json: the shim's answer, as JSON
        assert [g["id"] for g in listed["grants"]] == [gid]


def test_an_option_before_the_command_survives_the_command_s_defaults(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Options the command does not repeat keep what was given before it."""
    keyfile = tmp_path / "key"
    keyfile.write_text(key("dave") + "\n", encoding="utf-8")
    with cluster(tmp_path / "shim", workers=1) as c:
        argv = ["--json", "list", "--api-key-file", str(keyfile)]
        assert access_cli.main(argv, "customer-shim", client=c.clients[0]) == 0
        assert json.loads(capsys.readouterr().out) == {"grants": [], "review": []}


@pytest.fixture
def hr_shim(monkeypatch: pytest.MonkeyPatch) -> str:
    """The golden hr shim (it has elevated groups) importable, as its package CLI needs."""
    monkeypatch.syspath_prepend(str(ROOT / "generated_examples" / "hr_shim"))
    return "hr_shim"


def test_the_package_cli_has_the_access_verb(
    hr_shim: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exited:
        cli.main(hr_shim, ["access", "--help"])
    assert exited.value.code == 0
    out = capsys.readouterr().out
    for command in ("request", "approve", "deny", "revoke", "list"):
        assert command in out
    with pytest.raises(SystemExit):
        cli.main(hr_shim, ["--help"])
    assert "access" in capsys.readouterr().out


def test_a_shim_without_elevated_groups_says_so_instead_of_404(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """The customer shim has no elevated groups: `access list` said "refused (404): no such
    endpoint" after a round trip (new-user walk); now it says why, and --help omits it."""
    assert cli.main("customer_shim", ["access", "list"]) == 2
    err = capsys.readouterr().err
    assert "has no elevated groups" in err and "404" not in err
    with pytest.raises(SystemExit):
        cli.main("customer_shim", ["--help"])
    assert "access" not in capsys.readouterr().out
