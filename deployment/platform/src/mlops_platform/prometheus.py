"""Prometheus in the local platform: its configuration, written from settings at `up`.

Prometheus scrapes the online service's `/metrics`, the pushgateway (the figures batch tasks
push: materialization freshness, monitoring's drift and live AUC, the champion) and itself,
and evaluates the alert rules of `deployment/monitoring/alerts.yml` (unit-tested with
`promtool test rules`). The file is JSON, which is YAML too, so no YAML writer is needed.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from mlops_common.files import write_json
from mlops_common.settings import get_prometheus_settings, project_root

from mlops_platform.state import state_dir

ONLINE_SERVICE_JOB = "online-service"
PUSHGATEWAY_JOB = "pushgateway"


def prometheus_dir() -> Path:
    return state_dir() / "prometheus"


def config_path() -> Path:
    return prometheus_dir() / "prometheus.yml"


def alert_rules_path() -> Path:
    return project_root() / "deployment" / "monitoring" / "alerts.yml"


def prometheus_config(serving_address: str) -> dict[str, Any]:
    """Scrape SERVING_ADDRESS (host:port of the online service), the pushgateway and
    Prometheus itself; evaluate the project's alert rules."""
    settings = get_prometheus_settings()
    interval = f"{settings.scrape_interval_seconds}s"
    return {
        "global": {"scrape_interval": interval, "evaluation_interval": interval},
        "rule_files": [str(alert_rules_path())],
        "scrape_configs": [
            {
                "job_name": ONLINE_SERVICE_JOB,
                "metrics_path": "/metrics",
                "static_configs": [{"targets": [serving_address]}],
            },
            {
                # The pushed series keep their own `job` label (materialize, monitoring ...).
                "job_name": PUSHGATEWAY_JOB,
                "honor_labels": True,
                "static_configs": [{"targets": [f"{settings.host}:{settings.pushgateway_port}"]}],
            },
            {
                "job_name": "prometheus",
                "static_configs": [{"targets": [f"{settings.host}:{settings.port}"]}],
            },
        ],
    }


def write_prometheus_config(serving_address: str) -> Path:
    """Write the configuration (atomically) where the supervised Prometheus reads it."""
    return write_json(config_path(), prometheus_config(serving_address))
