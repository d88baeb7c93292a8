"""The service files each generated package carries: app, CLI, image, deployment, docs.

These are what an operator builds and deploys, so the tests read them the way
the tools will: Python compiles, YAML parses into the Kubernetes objects with
the security settings the README promises, the README covers every variable
the settings module reads and every route.
"""

from __future__ import annotations

import ast
import json
import os
import re
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import pytest
import yaml

from shimgen.render import generate
from shimgen.render.openapi import openapi_document
from shimgen.render.servicespec import ENV_VARS, fields_in, fields_out, service_context
from shimgen.runtime.service.settings import _ENV as SETTINGS_ENV
from shimgen.runtime.service.settings import Settings
from tests.expected import EXAMPLES, plan_of

RUNTIME = Path(generate.RUNTIME_DIR)
_cache: dict[str, dict[str, str]] = {}


def rendered(name: str) -> dict[str, str]:
    if name not in _cache:
        _cache[name] = generate.render_package(plan_of(name))
    return _cache[name]


def pkg(name: str) -> str:
    return f"{name}_shim"


@pytest.mark.parametrize("name", EXAMPLES)
def test_new_files_are_rendered(name: str) -> None:
    files = rendered(name)
    p = pkg(name)
    for path in (
        f"{p}/app.py",
        f"{p}/__main__.py",
        f"{p}/openapi.json",
        "Dockerfile",
        ".dockerignore",
        "deploy/kubernetes.yaml",
        "deploy/prometheus-rules.yaml",
        "deploy/pod-monitor.yaml",
    ):
        assert path in files, path
    lock = json.loads(files["SHIM.lock.json"])
    assert f"{p}/openapi.json" in lock["files"]


@pytest.mark.parametrize("name", EXAMPLES)
def test_openapi_json_is_the_document(name: str) -> None:
    """The file holds the document (its bytes are pinned by the golden record and its
    stability across hash seeds by test_examples), readable JSON a reviewer can diff."""
    text = rendered(name)[f"{pkg(name)}/openapi.json"]
    assert json.loads(text) == openapi_document(plan_of(name))
    assert text.endswith("}\n") and "\n  " in text, "indented, one trailing newline"


@pytest.mark.parametrize("name", EXAMPLES)
def test_app_and_main_compile(name: str) -> None:
    files = rendered(name)
    for module in ("app.py", "__main__.py"):
        source = files[f"{pkg(name)}/{module}"]
        compile(source, module, "exec")
        assert "import shimgen" not in source and "from shimgen" not in source
    assert f'cli.main(package="{pkg(name)}")' in files[f"{pkg(name)}/__main__.py"]


def _spec_literal(source: str, keyword: str) -> Any:
    """The literal passed as ``keyword=`` to ShimSpec in app.py."""
    tree = ast.parse(source)
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "ShimSpec":
            for kw in node.keywords:
                if kw.arg == keyword:
                    return ast.literal_eval(kw.value)
    raise AssertionError(keyword)


@pytest.mark.parametrize("name", EXAMPLES)
def test_app_spec_fields_per_group(name: str) -> None:
    plan = plan_of(name)
    source = rendered(name)[f"{pkg(name)}/app.py"]
    out = _spec_literal(source, "fields_out")
    into = _spec_literal(source, "fields_in")
    assert list(out) == list(plan.groups) == list(into)
    for group in plan.groups:
        assert out[group] == fields_out(plan, group)
        assert into[group] == fields_in(plan, group)
    upstream = _spec_literal(source, "upstream_env")
    assert upstream == (plan.upstream.url_env if plan.upstream else None)


def test_customer_fields_follow_the_groups() -> None:
    plan = plan_of("customer")
    assert "contact.email:pass" in fields_out(plan, "support")
    assert "contact.email:mask_email" in fields_out(plan, "billing")
    assert not [f for f in fields_out(plan, "support") if f.startswith("paymentMethods")]
    assert "paymentMethods[].last4:last4" in fields_out(plan, "billing")
    assert "region:const" in fields_out(plan, "support")
    assert fields_in(plan, "support") == ("customerId:tokenize", "status:map")


def test_routes_render_sorted_groups() -> None:
    from tests.test_openapi import _routed

    context = service_context(_routed(plan_of("customer")))
    route = context["routes"][2]
    assert route.groups == ("billing", "support")
    assert route.params == ()
    assert route.query == ("q", "page")
    assert context["routes"][0].params == (("customerId", "customerId", "id", "id"),)


@pytest.mark.parametrize("name", EXAMPLES)
def test_dockerfile(name: str) -> None:
    text = rendered(name)["Dockerfile"]
    lines = [line.strip() for line in text.splitlines()]
    assert "FROM python:3.12-slim" in lines
    user = next(line for line in lines if line.startswith("USER "))
    uid = user.split()[1].split(":")[0]
    assert uid.isdigit() and int(uid) > 0, "a numeric non-root uid (runAsNonRoot can check it)"
    assert "EXPOSE 8080" in lines
    assert "--no-cache-dir" in text
    health = text[text.index("HEALTHCHECK") :]
    assert "urllib" in health and "/healthz" in health
    cmd = next(line for line in lines if line.startswith(f'CMD ["{name}-shim"'))
    assert json.loads(cmd[4:]) == [
        f"{name}-shim",
        "serve",
        "--host",
        "0.0.0.0",
        "--port",
        "8080",
        "--workers",
        "2",
    ]
    assert "SHIM_AUDIT_URL=sqlite:////var/lib/shim/audit.db" in text
    ignore = rendered(name)[".dockerignore"].splitlines()
    assert "**" in ignore and "!pyproject.toml" in ignore


@pytest.mark.parametrize("name", EXAMPLES)
def test_kubernetes_manifest(name: str) -> None:
    plan = plan_of(name)
    app = f"{name}-shim"
    docs = list(yaml.safe_load_all(rendered(name)["deploy/kubernetes.yaml"]))
    assert [d["kind"] for d in docs] == ["Deployment", "Service", "HorizontalPodAutoscaler"]
    assert all("namespace" not in d["metadata"] for d in docs)
    deployment, service, hpa = docs
    assert deployment["spec"]["replicas"] == 2
    pod = deployment["spec"]["template"]["spec"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    (container,) = pod["containers"]
    security = container["securityContext"]
    assert security["readOnlyRootFilesystem"] is True
    assert security["allowPrivilegeEscalation"] is False
    assert security["capabilities"]["drop"] == ["ALL"]
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert set(container["resources"]) == {"requests", "limits"}
    assert {"cpu", "memory"} <= set(container["resources"]["limits"])
    env = {e["name"]: e for e in container["env"]}
    assert env["SHIM_KEYS"]["valueFrom"]["secretKeyRef"]["name"] == f"{app}-keys"
    assert env["SHIM_AUDIT_URL"]["valueFrom"]["secretKeyRef"]["name"] == f"{app}-audit"
    callers_path = env["SHIM_CALLERS_FILE"]["value"]
    mounts = {m["name"]: m for m in container["volumeMounts"]}
    volumes = {v["name"]: v for v in pod["volumes"]}
    assert callers_path.startswith(mounts["callers"]["mountPath"] + "/")
    assert volumes["callers"]["secret"]["secretName"] == f"{app}-callers"
    if plan.upstream is not None:
        assert plan.upstream.url_env in env
    assert service["spec"]["selector"] == deployment["spec"]["selector"]["matchLabels"]
    assert hpa["apiVersion"] == "autoscaling/v2"
    assert hpa["spec"]["scaleTargetRef"]["name"] == deployment["metadata"]["name"]
    assert hpa["spec"]["metrics"][0]["resource"]["name"] == "cpu"


@pytest.mark.parametrize("name", EXAMPLES)
def test_pyproject(name: str) -> None:
    data = tomllib.loads(rendered(name)["pyproject.toml"])
    deps = data["project"]["dependencies"]
    assert all(">=" in d for d in deps)
    names = {re.split(r"[\[>]", d)[0].lower() for d in deps}
    assert names >= {
        "pydantic",
        "cryptography",
        "starlette",
        "uvicorn",
        "httpx",
        "pyjwt",
        "prometheus-client",
        "psycopg",
        "jsonschema-rs",
        "orjson",
        "pyyaml",
    }
    assert data["project"]["scripts"] == {f"{name}-shim": f"{pkg(name)}.__main__:main"}
    assert data["build-system"]["build-backend"] == "hatchling.build"  # builds out of tree
    assert data["tool"]["hatch"]["build"]["targets"]["wheel"]["packages"] == [pkg(name)]
    test = " ".join(data["project"]["optional-dependencies"]["test"])
    assert "pytest" in test and "schemathesis" in test and "hypothesis" in test
    assert "httpx2" in test  # Starlette's TestClient warns without it


def _settings_variables() -> set[str]:
    """The variables runtime/service/settings.py and runtime/core/keys.py read (found in their source)."""
    found: set[str] = set()
    for module in ("service/settings.py", "core/keys.py"):
        path = RUNTIME / module  # a missing module fails here rather than passing unread
        found |= set(re.findall(r"\bSHIM_[A-Z_]+\b", path.read_text(encoding="utf-8")))
    return found


def test_env_var_table_covers_the_settings_module() -> None:
    documented = {name for name, _, _ in ENV_VARS}
    assert _settings_variables() <= documented, _settings_variables() - documented


def test_env_var_table_shows_the_numeric_defaults_the_service_uses() -> None:
    """The README's default column is written by hand; a changed default must change it."""
    defaults = Settings.from_env({})
    attributes = {variable: attr for attr, variable in SETTINGS_ENV.items()}
    checked = 0
    for name, shown, _ in ENV_VARS:
        value = getattr(defaults, attributes[name], None) if name in attributes else None
        if isinstance(value, int | float) and not isinstance(value, bool):
            assert float(shown) == value, f"{name}: the table says {shown}, settings.py {value}"
            checked += 1
    assert checked >= 8, checked  # body, batch, depth, rate, burst, timeouts, checkpoints


@pytest.mark.parametrize("name", EXAMPLES)
def test_readme_documents_the_service(name: str) -> None:
    plan = plan_of(name)
    readme = rendered(name)["README.md"]
    for var in {name for name, _, _ in ENV_VARS} | _settings_variables():
        assert f"`{var}`" in readme, var
    doc = openapi_document(plan)
    for path, item in doc["paths"].items():
        for method in item:
            assert re.search(rf"\| {method.upper()} \| `{re.escape(path)}` \|", readme), path
    for route in plan.routes:
        assert f"`{route.method} {route.path}`" in readme
    if plan.upstream is not None:
        assert f"`{plan.upstream.url_env}`" in readme
    for text in (
        f"{name}-shim callers new-key",
        f"{name}-shim keys rotate",
        f"{name}-shim audit verify",
        "application/problem+json",
        "deploy/kubernetes.yaml",
        "deploy/pod-monitor.yaml",
        "docker build",
        "Why Starlette",
        "issuer:",
        "## Fields by functional group",
    ):
        assert text in readme, text


@pytest.mark.parametrize("name", EXAMPLES)
def test_app_serves_its_document(name: str, tmp_path: Path) -> None:
    """app.py against the real runtime: the app builds and answers, without shimgen (openapi.json
    with a 401 problem: no caller is configured here)."""
    out = tmp_path / f"{name}_shim"
    generate.write_package(plan_of(name), out)
    code = (
        "import json, sys; sys.modules['shimgen'] = None\n"
        "from starlette.testclient import TestClient\n"
        f"from {pkg(name)}.app import SPEC, create_app\n"
        "client = TestClient(create_app())\n"
        "doc = client.get('/openapi.json')\n"
        "health = client.get('/healthz')\n"
        "print(json.dumps([doc.status_code, doc.json()['status'] == 401,\n"
        "    doc.headers['shim-mapping'], health.status_code, sorted(SPEC.fields_out)]))\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("SHIM_")}
    env.update(
        PYTHONPATH=str(out),
        PYTHONDONTWRITEBYTECODE="1",
        SHIM_DEV_KEYS="1",
        SHIM_AUDIT_URL=f"jsonl:///{tmp_path}/audit.jsonl",
    )
    proc = subprocess.run(
        [sys.executable, "-W", "ignore", "-c", code],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    plan = plan_of(name)
    status, same, header, health, groups = json.loads(proc.stdout.strip().splitlines()[-1])
    assert (status, same, health) == (401, True, 200)  # the document needs credentials
    assert header == f"{plan.name}; version={plan.version}; sha256={plan.mapping_sha256}"
    assert groups == sorted(plan.groups)


@pytest.mark.parametrize("name", EXAMPLES)
def test_readme_callers_example_is_a_callers_file_of_the_shim(name: str) -> None:
    """The README's callers example loads (hash placeholders filled in) for the shim's groups;
    with an elevated group it shows an eligible caller and an approver of it, both internal, the
    eligible one listed for the group the elevation is reviewed beyond, as the service requires."""
    from shimgen.runtime.service.auth import new_api_key
    from shimgen.runtime.service.callers import Callers

    plan = plan_of(name)
    section = rendered(name)["README.md"].split("### Callers", 1)[1]
    example = section.split("```yaml\n", 1)[1].split("```", 1)[0]
    text = re.sub(r"sha256:<[^>]*>", lambda _: new_api_key()[1], example)
    beyond = {g: e.beyond for g, e in plan.elevated.items() if e.beyond is not None}
    loaded = Callers.from_yaml(text, tuple(plan.groups), beyond=beyond)
    callers = {c.name: c for c in loaded.callers}
    if not plan.elevated:
        assert not any("eligible" in c for c in callers)
        return
    group, rule = next(iter(plan.elevated.items()))
    eligible, approver = callers["eligible-person"], callers["approver-person"]
    assert group in eligible.groups and eligible.groups.isdisjoint(rule.approvers)
    assert rule.beyond is None or rule.beyond in eligible.groups
    assert approver.groups <= set(rule.approvers) and group not in approver.groups
    assert eligible.side == approver.side == "internal"
    assert "`approver-person`, a member of its approver group" in section


@pytest.mark.parametrize("name", EXAMPLES)
def test_readme_access_list_says_what_the_endpoint_lists(name: str) -> None:
    """docs/access.md: the caller's own grants and *all* grants of the groups it approves."""
    readme = rendered(name)["README.md"]
    if not plan_of(name).elevated:
        assert "access list" not in readme
        return
    (line,) = [x for x in readme.splitlines() if x.endswith(" access list") or "access list  " in x]
    assert line.split("#", 1)[1].strip() == "yours, and all grants of the groups you approve"


def test_shared_store_timeout_row_names_both_uses() -> None:
    """docs/shared-store.md: the tracking pushes use the limiter's client and its timeout."""
    (row,) = [line for line in rendered("hr")["README.md"].splitlines()
              if line.startswith("| `SHIM_SHARED_STORE_TIMEOUT`")]  # fmt: skip
    assert "rate-limit check" in row and "tracking push" in row
