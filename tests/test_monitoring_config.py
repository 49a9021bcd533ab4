"""Prometheus and Grafana configuration: the alert rules pass promtool's checks and unit tests
(one test per rule), both Prometheus configurations are valid, and every dashboard query and
alert names a metric the project exports."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml
from mlops_common.settings import project_root

MONITORING = project_root() / "deployment" / "monitoring"
RULES = MONITORING / "alerts.yml"
RULE_TESTS = MONITORING / "alerts_test.yml"
DASHBOARD = MONITORING / "grafana" / "dashboards" / "driver_ranking.json"

# Series Prometheus itself makes for every target, and functions/keywords of PromQL.
PROMETHEUS_SERIES = {"up", "scrape_duration_seconds", "scrape_samples_scraped"}
PROMQL_WORDS = {
    "sum", "max", "min", "avg", "count", "rate", "irate", "increase", "by", "without", "on",
    "ignoring", "group_left", "group_right", "unless", "and", "or", "histogram_quantile",
    "time", "absent", "le", "bool", "offset", "topk", "bottomk", "clamp_min", "clamp_max",
}  # fmt: skip
# prometheus_client's constructors, and `gauge(...)`: monitoring's helper that builds a Gauge.
_CONSTRUCTOR = re.compile(
    r"\b(Counter|Gauge|Histogram|Summary|gauge)\(\s*\"([a-zA-Z_:][a-zA-Z0-9_:]*)\""
)


def promtool() -> str:
    found = shutil.which("promtool")
    if found is None:
        pytest.fail("promtool is not installed: run `make setup` (Debian package prometheus)")
    return found


def exported_metric_names() -> set[str]:
    """Every series name the project's code exports: prometheus_client metrics created in the
    packages' sources (the service's /metrics, the figures tasks push), with the suffixes
    prometheus_client adds, plus its process metrics."""
    from prometheus_client import ProcessCollector

    names: set[str] = set()
    for source in project_root().glob("*/**/src/**/*.py"):
        if ".venv" in source.parts:
            continue
        for kind, name in _CONSTRUCTOR.findall(source.read_text()):
            if kind == "Counter":
                base = name.removesuffix("_total")
                names |= {f"{base}_total", f"{base}_created"}
            elif kind in ("Histogram", "Summary"):
                names |= {name, f"{name}_bucket", f"{name}_sum", f"{name}_count"}
            else:
                names.add(name)
    process = ProcessCollector(registry=None, pid=lambda: "self")
    names |= {metric.name for metric in process.collect()}
    return names


def metric_names_in(expr: str) -> set[str]:
    """The metric names a PromQL expression reads (labels, strings and durations removed)."""
    stripped = re.sub(r'"[^"]*"', "", expr)
    stripped = re.sub(r"\{[^}]*\}", "", stripped)
    stripped = re.sub(r"\[[^\]]*\]", "", stripped)
    words = set(re.findall(r"[a-zA-Z_:][a-zA-Z0-9_:]*", stripped))
    grouping = set()
    for labels in re.findall(r"\b(?:by|on|without|ignoring)\s*\(([^)]*)\)", expr):
        grouping |= {label.strip() for label in labels.split(",")}
    return {w for w in words - PROMQL_WORDS - grouping if not re.fullmatch(r"\d+[smhd]?", w)}


def test_rules_pass_promtool_check() -> None:
    result = subprocess.run(
        [promtool(), "check", "rules", str(RULES)], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_rule_unit_tests_pass() -> None:
    result = subprocess.run(
        [promtool(), "test", "rules", str(RULE_TESTS)],
        capture_output=True,
        text=True,
        check=False,
        cwd=MONITORING,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def _alert_names() -> list[str]:
    groups = yaml.safe_load(RULES.read_text())["groups"]
    return [rule["alert"] for group in groups for rule in group["rules"] if "alert" in rule]


def test_every_rule_has_a_firing_and_a_quiet_case() -> None:
    tests = yaml.safe_load(RULE_TESTS.read_text())["tests"]
    fired: set[str] = set()
    quiet: set[str] = set()
    for case in tests:
        for check in case.get("alert_rule_test", []):
            (fired if check.get("exp_alerts") else quiet).add(check["alertname"])
    alerts = set(_alert_names())
    assert len(alerts) == 11
    assert sorted(alerts - fired) == [], "rules without a test where they fire"
    assert sorted(alerts - quiet) == [], "rules without a test where they stay quiet"


def test_dashboard_and_rules_name_exported_metrics() -> None:
    exported = exported_metric_names() | PROMETHEUS_SERIES
    assert "driver_ranking_inference_seconds_bucket" in exported
    assert "driver_ranking_materialization_end_timestamp_seconds" in exported
    dashboard = json.loads(DASHBOARD.read_text())
    queries = [t["expr"] for panel in dashboard["panels"] for t in panel["targets"]]
    groups = yaml.safe_load(RULES.read_text())["groups"]
    queries += [rule["expr"] for group in groups for rule in group["rules"]]
    assert len(queries) >= 20
    unknown = {q: sorted(metric_names_in(q) - exported) for q in queries}
    assert {q: names for q, names in unknown.items() if names} == {}


def test_metric_name_extraction() -> None:
    """The checker above could not fail if it extracted nothing: it finds names in PromQL."""
    expr = (
        "histogram_quantile(0.99, sum by (le) (rate(driver_ranking_inference_seconds_bucket"
        '{endpoint="/inference"}[5m]))) > 0.1 or absent(made_up_metric) unless on(instance) up'
    )
    assert metric_names_in(expr) == {
        "driver_ranking_inference_seconds_bucket",
        "made_up_metric",
        "up",
    }


def test_dashboard_panels_cover_the_issue() -> None:
    dashboard = json.loads(DASHBOARD.read_text())
    titles = " | ".join(panel["title"].lower() for panel in dashboard["panels"])
    for topic in (
        "request rate",
        "latency",
        "error",
        "model version",
        "drift per feature",
        "live roc auc",
    ):
        assert topic in titles
    ids = [panel["id"] for panel in dashboard["panels"]]
    assert len(ids) == len(set(ids))
    assert all(
        t["datasource"]["uid"] == "prometheus" for p in dashboard["panels"] for t in p["targets"]
    )


def test_grafana_provisioning_points_at_the_dashboards() -> None:
    datasource = yaml.safe_load(
        (MONITORING / "grafana" / "provisioning" / "datasources" / "prometheus.yml").read_text()
    )
    assert datasource["datasources"][0]["uid"] == "prometheus"
    compose = yaml.safe_load((project_root() / "deployment" / "docker-compose.yml").read_text())
    grafana_mounts = compose["services"]["grafana"]["volumes"]
    assert "./monitoring/grafana/dashboards:/var/lib/grafana/dashboards:ro" in grafana_mounts
    assert "prometheus" in compose["services"]
    assert "pushgateway" in compose["services"]


@pytest.mark.parametrize("config", ["compose", "platform"])
def test_prometheus_configurations_are_valid(
    config: str, project_env: Path, tmp_path: Path
) -> None:
    if config == "compose":
        path = MONITORING / "prometheus.yml"
    else:
        from mlops_platform.prometheus import write_prometheus_config

        path = write_prometheus_config("127.0.0.1:3000")
    result = subprocess.run(
        [promtool(), "check", "config", str(path)], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "1 rule files found" in result.stdout
