"""The generated alerting rules (deploy/prometheus-rules.yaml) parse as a PrometheusRule and
name only metrics the service really exports, with the labels it really sets; break-glass
always alerts where a group allows it; deploy/pod-monitor.yaml scrapes what they read."""

from __future__ import annotations

import dataclasses
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from shimgen.render import generate
from shimgen.runtime.service.metrics import Metrics
from tests.expected import EXAMPLES, plan_of
from tests.test_render_service import rendered

_METRIC = re.compile(r"\b(shim_[a-z_]+)\b(?:\{([^}]*)\})?")


def exported() -> dict[str, set[str]]:
    """Sample name -> label names, from a real Metrics exposition with every series made."""
    metrics = Metrics()
    metrics.detection("key:ana", "enumeration")
    metrics.audit_failure()
    metrics.shared_store(False)
    metrics.break_glass("payroll-corrections")
    metrics.request("POST /v1/outbound", "support", 200, 0.01)
    found: dict[str, set[str]] = {}
    for line in metrics.exposition().decode().splitlines():
        if line.startswith("#") or not line.startswith("shim_"):
            continue
        name, _, rest = line.partition("{")
        name = name.split(" ")[0]
        labels = {pair.split("=")[0] for pair in rest.split("}")[0].split(",") if "=" in pair}
        found.setdefault(name, set()).update(labels)
    return found


@pytest.mark.parametrize("name", EXAMPLES)
def test_rules_are_a_prometheus_rule_over_exported_metrics(name: str) -> None:
    doc = yaml.safe_load(rendered(name)["deploy/prometheus-rules.yaml"])
    assert doc["apiVersion"] == "monitoring.coreos.com/v1"
    assert doc["kind"] == "PrometheusRule"
    assert doc["metadata"]["name"] == f"{name}-shim"
    rules = [r for group in doc["spec"]["groups"] for r in group["rules"]]
    assert {r["alert"] for r in rules} >= {"ShimEnumerationOrVolume", "ShimTrackingDetection"}
    samples = exported()
    for rule in rules:
        assert rule["labels"]["severity"] in ("critical", "warning")
        named = _METRIC.findall(rule["expr"])
        assert named, rule["expr"]
        for metric, selector in named:
            assert metric in samples, f"{rule['alert']}: {metric} is not exported"
            used = {m.group(1) for m in re.finditer(r"(\w+)\s*[=!]~?", selector)}
            assert used <= samples[metric], f"{rule['alert']}: {metric} has no label {used}"
        for by in re.findall(r"by \(([^)]*)\)", rule["expr"]):
            for label in (x.strip() for x in by.split(",")):
                assert any(label in labels for m, _ in named for labels in [samples[m]])


def _alerts(files: dict[str, str]) -> dict[str, dict[str, Any]]:
    doc = yaml.safe_load(files["deploy/prometheus-rules.yaml"])
    return {r["alert"]: r for group in doc["spec"]["groups"] for r in group["rules"]}


@pytest.mark.parametrize("name", EXAMPLES)
def test_break_glass_alerts_exactly_where_a_group_allows_it(name: str) -> None:
    """docs/access.md: break-glass "always alerts"; a shim without it gets no dead rule."""
    plan = plan_of(name)
    allows = any(e.break_glass_seconds is not None for e in plan.elevated.values())
    rule = _alerts(rendered(name)).get("ShimBreakGlassGrant")
    assert (rule is not None) == allows
    if rule is not None:
        assert "increase(shim_grant_break_glass_total[" in rule["expr"]
        assert rule["expr"].endswith("> 0") and "group" in rule["expr"]
        assert rule["labels"]["severity"] == "critical"


def test_elevated_groups_without_break_glass_get_no_break_glass_alert() -> None:
    plan = plan_of("hr")
    assert plan.elevated, "hr is the example with an elevated group"
    without = dataclasses.replace(
        plan,
        elevated={
            g: dataclasses.replace(e, break_glass_seconds=None) for g, e in plan.elevated.items()
        },
    )
    assert "ShimBreakGlassGrant" not in _alerts(generate.render_package(without))


def test_break_glass_series_exist_at_zero_before_the_first_grant() -> None:
    """increase() needs a sample before the rise: the first break-glass grant must count."""
    metrics = Metrics()
    assert b"shim_grant_break_glass_total{" not in metrics.exposition()
    metrics.break_glass_groups(["payroll-corrections"])
    assert b'shim_grant_break_glass_total{group="payroll-corrections"} 0.0' in metrics.exposition()


@pytest.mark.parametrize("name", EXAMPLES)
def test_pod_monitor_scrapes_the_deployments_pods(name: str) -> None:
    """The rules only see what is scraped: the PodMonitor selects the Deployment's pods and
    names their container port and the path the app serves its metrics on."""
    files = rendered(name)
    monitor = yaml.safe_load(files["deploy/pod-monitor.yaml"])
    assert (monitor["apiVersion"], monitor["kind"]) == ("monitoring.coreos.com/v1", "PodMonitor")
    assert "namespace" not in monitor["metadata"]
    deployment = next(
        d for d in yaml.safe_load_all(files["deploy/kubernetes.yaml"]) if d["kind"] == "Deployment"
    )
    pod = deployment["spec"]["template"]
    assert monitor["spec"]["selector"]["matchLabels"].items() <= pod["metadata"]["labels"].items()
    ports = {p["name"] for c in pod["spec"]["containers"] for p in c["ports"]}
    (endpoint,) = monitor["spec"]["podMetricsEndpoints"]
    assert endpoint["port"] in ports and endpoint["path"] == "/metrics"
    rules = yaml.safe_load(files["deploy/prometheus-rules.yaml"])
    assert monitor["metadata"]["labels"]["release"] == rules["metadata"]["labels"]["release"]


@pytest.mark.parametrize("name", EXAMPLES)
def test_a_callers_first_detection_of_a_kind_alerts(name: str) -> None:
    """A first detection makes a new series already at 1, where increase() sees no rise: each
    detection rule also takes the series that were not there one window before."""
    alerts = _alerts(rendered(name))
    for alert in ("ShimEnumerationOrVolume", "ShimTrackingDetection"):
        expr = alerts[alert]["expr"]
        window = re.search(r"increase\(shim_detections_total\{([^}]*)\}\[(\w+)\]\)", expr)
        assert window is not None, expr
        selector, span = window.groups()
        new_series = (
            f"shim_detections_total{{{selector}}} unless "
            f"shim_detections_total{{{selector}}} offset {span}"
        )
        # its own term, never or-ed inside one sum with increase(): from its second sample on,
        # a new series is in increase()'s result (at 0) and `or` would drop it there
        assert f"or (sum by (caller, kind) ({new_series}) > 0)" in expr, expr


def _expected(rule: dict[str, Any], labels: dict[str, str]) -> dict[str, Any]:
    """One alert as promtool reports it: the series' labels, the rule's, its annotations."""
    notes = {
        key: re.sub(r"\{\{ \$labels\.(\w+) \}\}", lambda m: labels[m.group(1)], text)
        for key, text in rule["annotations"].items()
    }
    return {"exp_labels": {**labels, **rule["labels"]}, "exp_annotations": notes}


@pytest.mark.parametrize("name", EXAMPLES)
def test_the_rules_fire_as_prometheus_evaluates_them(
    name: str, promtool: str, tmp_path: Path
) -> None:
    """promtool runs the rules over series a shim exports: a caller's first detection of a kind
    (a new series, already at 1) alerts for one window and then stops; a rise of an existing
    series alerts; nothing alerts before; the first break-glass grant alerts (its series is
    exported at 0 from start-up). increase() alone missed the first detection."""
    alerts = _alerts(rendered(name))
    doc = yaml.safe_load(rendered(name)["deploy/prometheus-rules.yaml"])
    (tmp_path / "rules.yaml").write_text(yaml.safe_dump({"groups": doc["spec"]["groups"]}))
    bob = {"caller": "internal:bob", "kind": "probing"}
    ana = {"caller": "internal:ana", "kind": "enumeration"}
    series = [
        {"series": 'shim_detections_total{caller="internal:bob",kind="probing"}', "values": "_x10 1x30"},
        {"series": 'shim_detections_total{caller="internal:ana",kind="enumeration"}', "values": "1x12 2x20"},
    ]  # fmt: skip
    detection, volume = alerts["ShimTrackingDetection"], alerts["ShimEnumerationOrVolume"]
    cases = [
        {"eval_time": "9m", "alertname": "ShimTrackingDetection", "exp_alerts": []},
        {"eval_time": "12m", "alertname": "ShimTrackingDetection",
         "exp_alerts": [_expected(detection, bob)]},
        {"eval_time": "20m", "alertname": "ShimTrackingDetection",
         "exp_alerts": [_expected(detection, bob)]},
        {"eval_time": "27m", "alertname": "ShimTrackingDetection", "exp_alerts": []},
        {"eval_time": "10m", "alertname": "ShimEnumerationOrVolume", "exp_alerts": []},
        {"eval_time": "14m", "alertname": "ShimEnumerationOrVolume",
         "exp_alerts": [_expected(volume, ana)]},
    ]  # fmt: skip
    glass = alerts.get("ShimBreakGlassGrant")
    if glass is not None:
        group = {"group": "elevated-group"}
        series.append(
            {"series": 'shim_grant_break_glass_total{group="elevated-group"}', "values": "0x4 1x10"}
        )
        cases += [
            {"eval_time": "3m", "alertname": "ShimBreakGlassGrant", "exp_alerts": []},
            {"eval_time": "6m", "alertname": "ShimBreakGlassGrant",
             "exp_alerts": [_expected(glass, group)]},
        ]  # fmt: skip
    test = {
        "rule_files": ["rules.yaml"],
        "evaluation_interval": "1m",
        "tests": [{"interval": "1m", "input_series": series, "alert_rule_test": cases}],
    }
    (tmp_path / "test.yaml").write_text(yaml.safe_dump(test))
    done = subprocess.run(
        [promtool, "test", "rules", "test.yaml"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
