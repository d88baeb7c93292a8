"""``<name>-shim access ...``: the command line drives the grant endpoints and says what happened.

The CLI is run in-process against a real app (Starlette's TestClient is an
httpx client, so the CLI's own request code is what runs); credentials come
from the environment only.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from shimgen.runtime.service import access_cli, cli
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
        assert gid in capsys.readouterr().out
        assert run(client, "dave", "revoke", gid, monkeypatch=monkeypatch) == 0
        assert outbound(client, "dave").status_code == 403
        assert run(client, "dave", "--json", "list", monkeypatch=monkeypatch) == 0
        assert '"state":"revoked"' in capsys.readouterr().out


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
    with pytest.raises(SystemExit):
        access_cli.main(["list", "--api-key", "secret"], "customer-shim")  # no such flag
    keyfile = tmp_path / "key"
    keyfile.write_text(key("bob") + "\n", encoding="utf-8")
    with cluster(tmp_path / "shim", workers=1) as c:
        argv = ["--api-key-file", str(keyfile), "list"]
        assert access_cli.main(argv, "customer-shim", client=c.clients[0]) == 0


def test_unreachable_shim_is_exit_3(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("SHIM_API_KEY", "k")
    assert access_cli.main(["--url", "http://127.0.0.1:9", "list"], "customer-shim") == 3
    assert "cannot reach the shim" in capsys.readouterr().err


def test_the_package_cli_has_the_access_verb(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        cli.main("customer_shim", ["access", "--help"])
    assert exited.value.code == 0
    out = capsys.readouterr().out
    for command in ("request", "approve", "deny", "revoke", "list"):
        assert command in out
