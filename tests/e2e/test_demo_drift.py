"""`make demo_drift` after `make demo`: the closed loop in real scheduler runs.

Stable traffic gives a quiet monitoring window; drifted traffic raises the alarm, whose `drift`
asset event starts training_pipeline; its new champion's `champion` event starts
batch_serving_pipeline, and the online service answers with the new version by itself.
Runs after tests/e2e/test_demo.py (same session platform): it moves the champion.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import httpx
import pytest

if TYPE_CHECKING:
    from tests.e2e.conftest import Demo, DemoDrift

pytestmark = [pytest.mark.slow, pytest.mark.integration]

REQUEST = {"driver_ids": [1001, 1002, 1003, 1004, 1005]}


def _runs(demo: Demo, dag_id: str) -> list[dict[str, object]]:
    with demo.api() as api:
        answer = api.get(f"/dags/{dag_id}/dagRuns", params={"order_by": "-run_after"})
        return list(answer.json()["dag_runs"])


def _triggering_assets(demo: Demo, dag_id: str, run_id: str) -> set[str]:
    with demo.api() as api:
        answer = api.get(f"/dags/{dag_id}/dagRuns/{run_id}/upstreamAssetEvents")
        return {str(event["name"]) for event in answer.json()["asset_events"]}


def test_demo_drift_succeeds(demo_drift: DemoDrift) -> None:
    assert demo_drift.returncode == 0, demo_drift.output[-5000:]
    assert "quiet: signal_drift skipped" in demo_drift.output
    assert "drift detected" in demo_drift.output
    assert "alert FeatureDrift firing" in demo_drift.output


def test_a_quiet_window_then_an_alarm(demo: Demo, demo_drift: DemoDrift) -> None:
    with demo.api() as api:
        states = []
        for run in reversed(_runs(demo, "monitoring")):
            if run["state"] != "success":
                continue
            tasks = api.get(f"/dags/monitoring/dagRuns/{run['dag_run_id']}/taskInstances")
            by_id = {t["task_id"]: t["state"] for t in tasks.json()["task_instances"]}
            states.append(by_id["signal_drift"])
    assert states[-2:] == ["skipped", "success"], states


def test_drift_started_training_and_the_champion_started_batch(
    demo: Demo, demo_drift: DemoDrift
) -> None:
    training = [r for r in _runs(demo, "training_pipeline") if r["run_type"] == "asset_triggered"]
    by_drift = [
        r
        for r in training
        if "drift" in _triggering_assets(demo, "training_pipeline", str(r["dag_run_id"]))
    ]
    assert by_drift, training
    assert by_drift[0]["state"] == "success"

    batch = [r for r in _runs(demo, "batch_serving_pipeline") if r["run_type"] == "asset_triggered"]
    newest = batch[0]
    assert newest["state"] == "success"
    assert "champion" in _triggering_assets(
        demo, "batch_serving_pipeline", str(newest["dag_run_id"])
    )


def test_the_service_answers_with_the_new_champion(demo: Demo, demo_drift: DemoDrift) -> None:
    aliased = httpx.get(
        f"{demo.mlflow_url}/api/2.0/mlflow/registered-models/alias",
        params={"name": "driver_ranking", "alias": "champion"},
        timeout=30,
    ).json()["model_version"]["version"]
    assert int(aliased) >= 2, "the drift retraining registered a new champion"
    answer = httpx.post(f"{demo.serving_url}/inference", json=REQUEST, timeout=30)
    assert answer.status_code == 200, answer.text
    assert answer.json()["model_version"] == aliased


def test_prometheus_scrapes_the_service_and_fires_the_drift_alert(
    demo: Demo, demo_drift: DemoDrift
) -> None:
    targets = httpx.get(f"{demo.prometheus_url}/api/v1/targets", timeout=30).json()
    health = {t["labels"]["job"]: t["health"] for t in targets["data"]["activeTargets"]}
    assert health.get("online-service") == "up", health
    alerts = httpx.get(f"{demo.prometheus_url}/api/v1/alerts", timeout=30).json()
    firing = {a["labels"]["alertname"] for a in alerts["data"]["alerts"] if a["state"] == "firing"}
    assert "FeatureDrift" in firing, alerts
