"""Benchmark the generated customer shim as a service, against a bare endpoint of the same stack.

Run from the repo root: ``python bench/service.py [--seconds N] [--rounds R]
[--connections C] [--workers W] [--audit URL]``.

Two servers run side by side under uvicorn with the same workers and options: the
customer shim from ``generated_examples/customer_shim`` (API-key auth, rate limiter on
but set high, SQLite audit trail on with one file per worker, every record validated
and translated) and a bare Starlette endpoint that parses its JSON body and returns it
(the ratio's denominator). ``wrk`` drives both over loopback with C keep-alive
connections and reports requests per second and latency percentiles. Scenarios:
outbound single record, outbound batch of 100, inbound with a token, and the bare
echo. Every scenario is first sent once (it must answer 200) and warmed up; then each
runs R rounds, alternating, so drift of the machine hits all alike, and reports its
median round. wrk's count of non-2xx answers must stay 0. At the end the audit chain
is verified against its signed checkpoints (published every 5 s here), proving the
audit trail was written for every request.

Targets (issue 3, 2-core machine, 32 connections): outbound single-record throughput
>= 0.6 x the bare endpoint's; outbound single p99 <= 25 ms.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
PACKAGE_DIR = ROOT / "generated_examples" / "customer_shim"
SAMPLES = ROOT / "mappings" / "samples" / "customer.internal.ndjson"
API_KEY = "bench-" + "k" * 40
GROUP = "billing"

LUA = """
wrk.method = "POST"
wrk.body = {body}
wrk.headers["Content-Type"] = "application/json"
wrk.headers["X-API-Key"] = {key}
wrk.headers["Shim-Group"] = {group}
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def lua_string(text: str) -> str:
    return json.dumps(text)  # a JSON string literal is a valid Lua string literal here


def post(url: str, body: bytes, headers: dict[str, str]) -> tuple[int, bytes]:
    request = urllib.request.Request(url, data=body, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def wait_ready(url: str, proc: subprocess.Popen[bytes], seconds: float = 30.0) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"server exited with {proc.returncode} before it was ready: {url}")
        try:
            with urllib.request.urlopen(url, timeout=1) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        time.sleep(0.2)
    raise SystemExit(f"server not ready after {seconds:.0f} s: {url}")


def to_ms(value: str) -> float:
    number, unit = re.fullmatch(r"([\d.]+)(us|ms|s|m)", value).groups()  # type: ignore[union-attr]
    return float(number) * {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60000.0}[unit]


def run_wrk(url: str, script: Path, seconds: int, connections: int, threads: int) -> dict[str, Any]:
    args = ["wrk", f"-t{threads}", f"-c{connections}", f"-d{seconds}s", "--latency"]
    out = subprocess.run(
        [*args, "-s", str(script), url], capture_output=True, text=True, check=True
    ).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    p50 = to_ms(re.search(r"\n\s+50%\s+(\S+)", out).group(1))  # type: ignore[union-attr]
    p99 = to_ms(re.search(r"\n\s+99%\s+(\S+)", out).group(1))  # type: ignore[union-attr]
    bad = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    errors = re.search(r"Socket errors: (.*)", out)
    return {
        "rps": rps,
        "p50": p50,
        "p99": p99,
        "non2xx": int(bad.group(1)) if bad else 0,
        "socket_errors": errors.group(1) if errors else "",
    }


def setup(work: Path, audit_url: str | None) -> dict[str, str]:
    """Keys, callers file and audit database for the shim, all in a temporary directory."""
    env = {**os.environ, "PYTHONPATH": str(PACKAGE_DIR)}
    keys = subprocess.run(
        [sys.executable, "-m", "customer_shim.runtime.core.keys", "new", "--id", "bench1"],
        capture_output=True,
        text=True,
        check=True,
        env=env,
    ).stdout
    (work / "keys.json").write_text(keys, encoding="utf-8")
    digest = hashlib.sha256(API_KEY.encode()).hexdigest()
    (work / "callers.yaml").write_text(
        "callers:\n"
        "  - name: bench\n"
        "    side: internal\n"
        "    groups: [support, billing]\n"
        f"    api_keys: ['sha256:{digest}']\n",
        encoding="utf-8",
    )
    env.update(
        SHIM_KEYS_FILE=str(work / "keys.json"),
        SHIM_CALLERS_FILE=str(work / "callers.yaml"),
        SHIM_AUDIT_URL=audit_url or f"sqlite:///{work / 'audit.db'}?per_worker=1",
        SHIM_RATE_LIMIT="1000000",  # the limiter runs on every request but never refuses one
        SHIM_RATE_BURST="1000000",
        SHIM_LOG_LEVEL="WARNING",
        # Signed audit checkpoints every 5 s (default 60 s): measured with them on, often.
        SHIM_AUDIT_CHECKPOINT_INTERVAL="5",
        # Heuristic tracking observes every request (issue 13: measured with it on).
        SHIM_TRACKING="on",
    )
    return env


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=int, default=5, help="per scenario and round")
    parser.add_argument("--rounds", type=int, default=5, help="each scenario's median is reported")
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--threads", type=int, default=2, help="wrk threads")
    parser.add_argument(
        "--audit", help="audit URL (default: SQLite, one file per worker, in a temporary directory)"
    )
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        print("bench/service.py needs wrk: apt-get install wrk (Debian)", file=sys.stderr)
        return 2

    work = Path(tempfile.mkdtemp(prefix="shim-bench-"))
    env = setup(work, args.audit)
    shim_port, echo_port = free_port(), free_port()
    # The options `<package> serve` gives uvicorn, so both servers run the same stack.
    uvicorn_opts = [
        "--workers", str(args.workers), "--no-access-log", "--no-proxy-headers",
        "--no-server-header", "--log-level", "warning",
    ]  # fmt: skip
    # The servers' own output (audit checkpoints every 5 s, warnings) goes to a file, so the
    # bench prints only its table; the file's end is shown if a server fails.
    log = (work / "servers.log").open("wb")
    servers = [
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "customer_shim",
                "serve",
                "--host",
                "127.0.0.1",
                "--port",
                str(shim_port),
                "--workers",
                str(args.workers),
            ],
            env=env,
            cwd=work,
            stdout=log,
            stderr=subprocess.STDOUT,
        ),
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "uvicorn",
                "--factory",
                "--app-dir",
                str(Path(__file__).resolve().parent),
                "echo:build_echo_app",
                "--port",
                str(echo_port),
                *uvicorn_opts,
            ],
            env=env,
            cwd=work,
            stdout=log,
            stderr=subprocess.STDOUT,
        ),
    ]
    try:
        shim, echo = f"http://127.0.0.1:{shim_port}", f"http://127.0.0.1:{echo_port}"
        wait_ready(f"{shim}/readyz", servers[0])
        wait_ready(f"{echo}/healthz", servers[1])
        code = measure(args, work, env, shim, echo)
        stop(servers)
        return code if verify_audit(env, work) else 1
    except BaseException:
        stop(servers)
        tail = (work / "servers.log").read_bytes()[-3000:].decode(errors="replace")
        print(f"the servers' last output:\n{tail}", file=sys.stderr)
        raise
    finally:
        stop(servers)
        log.close()
        shutil.rmtree(work, ignore_errors=True)


def stop(servers: list[subprocess.Popen[bytes]]) -> None:
    for proc in servers:
        if proc.poll() is None:
            proc.terminate()
    for proc in servers:
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()


def measure(args: argparse.Namespace, work: Path, env: dict[str, str], shim: str, echo: str) -> int:
    records = [json.loads(line) for line in SAMPLES.read_text(encoding="utf-8").splitlines()]
    single = json.dumps(records[0])
    batch = json.dumps([records[i % len(records)] for i in range(100)])
    headers = {"Content-Type": "application/json", "X-API-Key": API_KEY, "Shim-Group": GROUP}
    status, body = post(f"{shim}/v1/outbound", single.encode(), headers)
    if status != 200:
        raise SystemExit(f"outbound probe answered {status}: {body[:300]!r}")
    external = json.loads(body)
    inbound = json.dumps({"customerId": external["customerId"], "status": external["status"]})

    scenarios = [
        ("bare echo (1 record)", f"{echo}/echo", single, 1),
        ("outbound, 1 record", f"{shim}/v1/outbound", single, 1),
        ("outbound, batch of 100", f"{shim}/v1/outbound", batch, 100),
        ("inbound, token", f"{shim}/v1/inbound", inbound, 1),
    ]
    scripts: dict[str, Path] = {}
    for i, (name, url, payload, _) in enumerate(scenarios):
        status, answer = post(url, payload.encode(), headers)
        if status != 200:
            raise SystemExit(f"{name}: probe answered {status}: {answer[:300]!r}")
        scripts[name] = work / f"wrk{i}.lua"
        scripts[name].write_text(
            LUA.format(body=lua_string(payload), key=lua_string(API_KEY), group=lua_string(GROUP)),
            encoding="utf-8",
        )
        run_wrk(url, scripts[name], 2, args.connections, args.threads)  # warm-up, not reported
    # Rounds alternate the scenarios, so drift of the machine over the run (other load,
    # the audit file growing) hits every scenario alike; each reports its median round.
    rounds: dict[str, list[dict[str, Any]]] = {name: [] for name, *_ in scenarios}
    for _ in range(args.rounds):
        for name, url, _payload, per_request in scenarios:
            result = run_wrk(url, scripts[name], args.seconds, args.connections, args.threads)
            result["records"] = result["rps"] * per_request
            rounds[name].append(result)
    results = {name: sorted(r, key=lambda x: x["rps"])[len(r) // 2] for name, r in rounds.items()}
    for name, r in rounds.items():
        results[name]["non2xx"] = sum(x["non2xx"] for x in r)
        results[name]["socket_errors"] = "; ".join(
            x["socket_errors"] for x in r if x["socket_errors"]
        )

    bare = results["bare echo (1 record)"]["rps"]
    print(
        f"customer shim under uvicorn, {args.workers} workers, wrk {args.threads} threads, "
        f"{args.connections} connections, median of {args.rounds} rounds of {args.seconds} s, "
        f"group {GROUP}, "
        f"audit: {env['SHIM_AUDIT_URL'].split(':')[0]}, tracking: {env['SHIM_TRACKING']}"
    )
    print(
        f"{'scenario':26} {'req/s':>9} {'records/s':>10} {'p50 ms':>7} {'p99 ms':>7} {'x bare':>7}"
    )
    failed = False
    for name, r in results.items():
        print(
            f"{name:26} {r['rps']:9,.0f} {r['records']:10,.0f} {r['p50']:7.2f} {r['p99']:7.2f}"
            f" {r['rps'] / bare:7.2f}"
        )
        if r["non2xx"] or r["socket_errors"]:
            print(f"  !! {r['non2xx']} non-2xx answers, socket errors: {r['socket_errors']}")
            failed = True
    out = results["outbound, 1 record"]
    ratio_ok = out["rps"] / bare >= 0.6
    p99_ok = out["p99"] <= 25.0
    print(f"outbound single / bare throughput: {out['rps'] / bare:.2f} (target >= 0.6) ", end="")
    print("PASS" if ratio_ok else "FAIL")
    paired = zip(rounds["outbound, 1 record"], rounds["bare echo (1 record)"], strict=True)
    print("  per round (each echo round next to its outbound round):",
          " ".join(f"{o['rps'] / e['rps']:.2f}" for o, e in paired))  # fmt: skip
    print(f"outbound single p99: {out['p99']:.2f} ms (target <= 25) {'PASS' if p99_ok else 'FAIL'}")
    return 0 if ratio_ok and p99_ok and not failed else 1


def verify_audit(env: dict[str, str], work: Path) -> bool:
    """Once the servers have stopped (their final checkpoints written), the audit trail
    must verify against its signed checkpoints: every request was recorded."""
    verify = subprocess.run(
        [sys.executable, "-m", "customer_shim", "audit", "verify", env["SHIM_AUDIT_URL"]],
        capture_output=True,
        text=True,
        env=env,
        cwd=work,
    )
    print(verify.stdout.strip() or verify.stderr.strip())
    return verify.returncode == 0


if __name__ == "__main__":
    sys.exit(main())
