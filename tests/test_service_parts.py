"""Unit tests of the service runtime's parts: validate, problems, logs, metrics, cli (the recorder: test_recorder.py)."""

from __future__ import annotations

import asyncio
import io
import json
import logging
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import orjson
import pytest

from shimgen.runtime.core.errors import Problem
from shimgen.runtime.service import cli, logs
from shimgen.runtime.service.metrics import Metrics
from shimgen.runtime.service.problems import HTTPProblem, problem_body
from shimgen.runtime.service.validate import MAX_ERRORS, SchemaValidator, check_depth, too_deep
from tests.service_support import KEYS_FILE, OPENAPI, RECORD

# -- validate ----------------------------------------------------------------------------------


def nested(depth: int) -> Any:
    doc: Any = 1
    for i in range(depth):
        doc = [doc] if i % 2 else {"k": doc}
    return doc


@pytest.mark.parametrize(("depth", "limit", "deep"), [(0, 1, False), (3, 3, False), (4, 3, True)])
def test_too_deep_counts_container_levels(depth: int, limit: int, deep: bool) -> None:
    assert too_deep(nested(depth), limit) is deep


def test_too_deep_is_iterative() -> None:
    assert too_deep(nested(200_000), 32)  # a recursive walk would overflow the stack
    assert not too_deep([[1, 2], {"a": [3]}, "x" * 10], 3)


def test_check_depth_is_400() -> None:
    with pytest.raises(HTTPProblem) as info:
        check_depth(nested(5), 4)
    assert info.value.status == 400


def test_validator_messages_name_keywords_never_values() -> None:
    v = SchemaValidator(OPENAPI, "InternalRecord")
    assert v.problems(RECORD) == []
    bad = {
        "id": 123456789,
        "email": "secret@example.com",
        "name": {"given": "Secret"},
        "cards": [{"number": "SECRETPAN", "cvv": "12345"}],
        "status": "SECRETSTATUS",
        "risk_score": 7.5,
        "surplus": "SECRETSURPLUS",
    }
    found = v.problems(bad)
    messages = {p.pointer: p.message for p in found}
    assert messages == {
        "/id": "type: expected string",
        "/name/family": "required: missing",
        "/cards/0/number": "pattern: does not match the pattern ^[0-9]{12,19}$",
        "/cards/0/cvv": "pattern: does not match the pattern ^[0-9]{3,4}$",
        "/status": "enum: not one of the allowed values",
        "/risk_score": "maximum: greater than 1",
        "/surplus": "additionalProperties: this field may not be sent",
    }
    text = json.dumps([p.message for p in found])
    assert "SECRET" not in text and "123456789" not in text and "7.5" not in text


def test_validator_caps_the_error_list() -> None:
    v = SchemaValidator(OPENAPI, "InternalRecord")
    found = v.problems({**RECORD, **{f"x{i}": i for i in range(300)}})
    assert len(found) == MAX_ERRORS
    batch = v.problems_each([{"id": 1}] * 300)
    assert len(batch) == MAX_ERRORS
    assert batch[0].pointer.startswith("/0/")


def test_validator_pointer_escapes_and_root() -> None:
    v = SchemaValidator(OPENAPI, "InboundPayload")
    assert v.problems({"a/b~c": 1}) == [
        Problem("/a~1b~0c", "additionalProperties: this field may not be sent")
    ]
    assert v.problems([]) == [Problem("/", "type: expected object")]


def test_validator_refuses_a_missing_component() -> None:
    with pytest.raises(ValueError, match=r"components\.schemas\.Nope"):
        SchemaValidator(OPENAPI, "Nope")
    broken = {"components": {"schemas": {"X": {"$ref": "#/components/schemas/Missing"}}}}
    with pytest.raises(ValueError, match="cannot be compiled"):
        SchemaValidator(broken, "X")


# -- problems -------------------------------------------------------------------------------------


def test_problem_body_shape() -> None:
    body = orjson.loads(problem_body(422, "x", "T", "d", "rid", [Problem("/a", "m")]))
    assert body == {
        "type": "https://shimgen.dev/problems/x",
        "title": "T",
        "status": 422,
        "detail": "d",
        "request_id": "rid",
        "errors": [{"pointer": "/a", "message": "m"}],
    }
    assert "errors" not in orjson.loads(problem_body(400, "x", "T", "d", "rid"))
    assert HTTPProblem(429, "slow down").slug == "rate-limited"


# -- logs ----------------------------------------------------------------------------------------


def test_json_formatter_keeps_only_allow_listed_fields() -> None:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logs.JsonFormatter())
    logger = logging.getLogger("shim.test")
    logger.addHandler(handler)
    logger.propagate = False
    try:
        logger.warning("fixed %s", "ARG-SECRET", extra={"status": 401, "value": "SECRET"})
        try:
            raise ValueError("EXC-SECRET")
        except ValueError:
            logger.exception("failed", extra=logs.exception_fields(ValueError("x")))
    finally:
        logger.removeHandler(handler)
    first, second = (json.loads(line) for line in stream.getvalue().splitlines())
    assert first["status"] == 401 and "value" not in first
    assert "SECRET" not in stream.getvalue()
    assert second["error_type"] == "ValueError"


def test_exception_fields_give_type_and_place() -> None:
    try:
        {}["SECRET"]
    except KeyError as exc:
        fields = logs.exception_fields(exc)
    assert fields["error_type"] == "KeyError"
    assert fields["where"].startswith("test_service_parts.py:")


# -- metrics --------------------------------------------------------------------------------------


def test_metrics_registry_per_app() -> None:
    a, b = Metrics(), Metrics()
    a.request("POST /v1/outbound", "support", 200, 0.002)
    a.records("outbound", "support", 3)
    a.audit_failure()
    text = a.exposition().decode()
    assert 'shim_records_total{direction="outbound",group="support"} 3.0' in text
    assert "shim_audit_failures_total 1.0" in text
    assert "shim_records_total{" not in b.exposition().decode()


def test_metrics_multiprocess_mode(tmp_path: Path) -> None:
    """Two processes write to PROMETHEUS_MULTIPROC_DIR; either one's exposition sums both."""
    code = (
        "import sys; from shimgen.runtime.service.metrics import Metrics; m = Metrics(); "
        "m.request('POST /v1/outbound', 'billing', 200, 0.01); "
        "m.records('outbound', 'billing', 2); "
        "sys.stdout.write(m.exposition().decode()) if sys.argv[1] == 'show' else None"
    )
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(tmp_path)}
    subprocess.run([sys.executable, "-c", code, "quiet"], env=env, check=True)
    out = subprocess.run(
        [sys.executable, "-c", code, "show"], env=env, check=True, capture_output=True, text=True
    ).stdout
    assert 'shim_records_total{direction="outbound",group="billing"} 4.0' in out
    assert 'shim_requests_total{group="billing",route="POST /v1/outbound",status="200"} 2.0' in out


def _samples(text: str, *prefixes: str) -> list[str]:
    lines = text.splitlines()
    return sorted(s for s in lines if s.startswith(prefixes) and "_created" not in s)


def test_metrics_batched_counts_equal_prometheus_client_observe() -> None:
    """Bucket edges (``le`` inclusive), +Inf, sum and count as Histogram.observe has them."""
    from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest

    from shimgen.runtime.service.metrics import _BUCKETS

    reference = CollectorRegistry()
    requests = Counter("shim_requests", "", ["route", "group", "status"], registry=reference)
    latency = Histogram(
        "shim_request_duration_seconds", "", ["route"], buckets=_BUCKETS, registry=reference
    )
    records = Counter("shim_records", "", ["direction", "group"], registry=reference)
    m = Metrics()
    values = [0.0, 0.0005, 0.001, 0.0010001, 0.0025, 0.07, 1.0, 9.99, 10.0, 10.5, 123.0, -1.0]
    for i, seconds in enumerate(values * 3):
        route = "POST /v1/outbound" if i % 3 else "GET /customers/{customerId}"
        group, status = ("billing", 200) if i % 2 else (None, 401)
        m.request(route, group, status, seconds)
        requests.labels(route, group or "none", str(status)).inc()
        latency.labels(route).observe(seconds)
        m.records("outbound", group, i)
        records.labels("outbound", group or "none").inc(i)
        if i % 7 == 0:
            m.flush()  # flushing in between changes nothing
    prefixes = ("shim_requests_total", "shim_request_duration_seconds_", "shim_records_total")
    expected = _samples(generate_latest(reference).decode(), *prefixes)
    assert _samples(m.exposition().decode(), *prefixes) == expected
    # A second flush with nothing new adds nothing (process_* metrics move, so only shim_*).
    assert _samples(m.exposition().decode(), *prefixes) == expected


def test_metrics_flush_periodically_while_started() -> None:
    from prometheus_client import generate_latest

    m = Metrics()
    line = 'shim_requests_total{group="billing",route="POST /v1/outbound",status="200"} 1.0'

    def raw() -> str:  # the registry as it is, without the flush exposition() does
        return generate_latest(m.registry).decode()

    async def main() -> None:
        m.start_flushing(0.01)
        m.request("POST /v1/outbound", "billing", 200, 0.002)
        assert line not in raw()
        for _ in range(200):
            await asyncio.sleep(0.01)
            if line in raw():
                break
        assert line in raw()
        m.request("POST /v1/outbound", "billing", 200, 0.002)
        m.stop_flushing()  # flushes the rest
        assert line.replace("} 1.0", "} 2.0") in raw()

    asyncio.run(main())


def test_metrics_multiprocess_periodic_flush(tmp_path: Path) -> None:
    """A running worker's counts reach the shared directory without an exposition of its own."""
    code = (
        "import asyncio, sys\n"
        "from shimgen.runtime.service.metrics import Metrics\n"
        "async def main():\n"
        "    m = Metrics(); m.start_flushing(0.01)\n"
        "    m.request('POST /v1/outbound', 'billing', 200, 0.01)\n"
        "    m.records('outbound', 'billing', 5)\n"
        "    await asyncio.sleep(0.2)\n"
        "    sys.stdout.write('flushed\\n'); sys.stdout.flush()\n"
        "    sys.stdin.readline()\n"  # still running (no exit-time flush) while the test reads
        "asyncio.run(main())\n"
    )
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(tmp_path)}
    worker = subprocess.Popen(
        [sys.executable, "-c", code], env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
        text=True,
    )  # fmt: skip
    try:
        assert worker.stdout is not None and worker.stdout.readline() == "flushed\n"
        show = (
            "import sys; from shimgen.runtime.service.metrics import Metrics; "
            "sys.stdout.write(Metrics().exposition().decode())"
        )
        out = subprocess.run(
            [sys.executable, "-c", show], env=env, check=True, capture_output=True, text=True
        ).stdout
    finally:
        worker.communicate("\n", timeout=20)
    assert 'shim_records_total{direction="outbound",group="billing"} 5.0' in out
    assert 'shim_request_duration_seconds_count{route="POST /v1/outbound"} 1.0' in out


# -- cli --------------------------------------------------------------------------------------------


def test_cli_keys_and_callers(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main("customer_shim", ["keys", "new", "--id", "k9"]) == 0
    assert json.loads(capsys.readouterr().out)["primary"] == "k9"
    assert cli.main("customer_shim", ["callers", "new-key"]) == 0
    assert "hash: sha256:" in capsys.readouterr().out


def test_cli_audit_verify(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    url = f"jsonl:///{tmp_path / 'none.jsonl'}"
    (tmp_path / "none.jsonl").write_text("", encoding="utf-8")
    # an empty store without checkpoints cannot be told from an emptied one: not verified
    assert cli.main("customer_shim", ["audit", "verify", url]) == 1
    assert cli.main("customer_shim", ["audit", "verify", url, "--chains-only"]) == 0


def test_cli_serve_uses_the_factory(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    calls: list[tuple[Any, dict[str, Any]]] = []
    import uvicorn

    monkeypatch.setattr(uvicorn, "run", lambda app, **kw: calls.append((app, kw)))
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", "")  # recorded, so restored afterwards
    monkeypatch.delenv("PROMETHEUS_MULTIPROC_DIR")
    # serve checks the configuration before it calls uvicorn: give it a good one.
    for name in [n for n in os.environ if n.startswith("SHIM_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("SHIM_KEYS_FILE", str(KEYS_FILE))
    monkeypatch.setenv("SHIM_AUDIT_URL", f"sqlite:///{tmp_path / 'audit.db'}")
    assert cli.main("customer_shim", ["serve", "--port", "9999", "--workers", "3"]) == 0
    [(app, kw)] = calls
    # The package's create_app, guarded at start-up (cli.worker_app).
    assert app == "customer_shim.runtime.service.cli:worker_app"
    assert kw["factory"] is True and kw["workers"] == 3 and kw["port"] == 9999
    assert kw["host"] == "127.0.0.1" and kw["access_log"] is False
    # scope["client"] stays the TCP peer: the recorder batches audit writes by connection.
    assert kw["proxy_headers"] is False
    directory = os.environ["PROMETHEUS_MULTIPROC_DIR"]
    assert os.path.isdir(directory)
    os.rmdir(directory)


def test_worker_app_applies_the_request_timeout(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """SHIM_REQUEST_TIMEOUT reaches the protocol serve runs: each worker sets the bound its
    sweeper reads (the golden package's copy, as a worker of `serve` imports it)."""
    from customer_shim.runtime.service import cli as worker_cli
    from customer_shim.runtime.service import http_head

    for name in [n for n in os.environ if n.startswith("SHIM_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("SHIM_KEYS_FILE", str(KEYS_FILE))
    monkeypatch.setenv("SHIM_AUDIT_URL", f"sqlite:///{tmp_path / 'audit.db'}")
    monkeypatch.setenv("SHIM_REQUEST_TIMEOUT", "120")
    monkeypatch.setattr(http_head, "MESSAGE_SECONDS", 60.0)  # restored afterwards
    worker_cli.worker_app()
    assert http_head.MESSAGE_SECONDS == 120.0


def test_cli_clears_stale_multiprocess_files(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "counter_123.db").write_bytes(b"old")
    (tmp_path / "keep.txt").write_text("x")
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path))
    assert cli.prepare_multiprocess_metrics(1) == str(tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["keep.txt"]


def test_cli_reader_gone_is_quiet_exit_1() -> None:
    """``customer-shim audit anomalies | head -1``: no BrokenPipeError traceback."""
    code = "import sys; from shimgen.runtime.service import cli; sys.exit(cli.main('customer_shim', ['keys', 'new']))"
    child = subprocess.Popen(
        [sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    assert child.stdout is not None and child.stderr is not None
    child.stdout.close()  # the reader goes away before the command writes
    err = child.stderr.read().decode()
    assert child.wait(timeout=60) == 1
    assert "Traceback" not in err and "BrokenPipeError" not in err, err


def test_cli_usage_errors_exit_2() -> None:
    with pytest.raises(SystemExit) as info:
        cli.main("customer_shim", ["serve", "--workers", "0"])
    assert info.value.code == 2
    with pytest.raises(SystemExit):
        cli.main("customer_shim", [])
