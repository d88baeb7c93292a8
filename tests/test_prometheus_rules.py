"""The generated alerting rules (deploy/prometheus-rules.yaml) parse as a PrometheusRule and
name only metrics the service really exports, with the labels it really sets."""

from __future__ import annotations

import re

import pytest
import yaml

from shimgen.runtime.service.metrics import Metrics
from tests.expected import EXAMPLES
from tests.test_render_service import rendered

_METRIC = re.compile(r"\b(shim_[a-z_]+)\b(?:\{([^}]*)\})?")


def exported() -> dict[str, set[str]]:
    """Sample name -> label names, from a real Metrics exposition with every series made."""
    metrics = Metrics()
    metrics.detection("key:ana", "enumeration")
    metrics.audit_failure()
    metrics.shared_store(False)
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
