"""`make demo_drift` after `make demo`: the closed loop in real scheduler runs.

Stable traffic gives a quiet monitoring window; covariate-drifted traffic raises the alarm, whose
`drift` asset event starts training_pipeline; that run learns nothing new (the champion's data),
registers nothing and emits no `champion` event, and the online service keeps its version.
Runs after tests/e2e/test_demo.py (same session platform).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import httpx
import pytest

if TYPE_CHECKING:
    from tests.e2e.conftest import Demo, DemoDrift

pytestmark = [pytest.mark.slow, pytest.mark.integration]

REQUEST = {"driver_ids": [1001, 1002, 1003, 1004, 1005]}


def _run(demo: Demo, dag_id: str, run_id: str) -> dict[str, object]:
    with demo.api() as api:
        return dict(api.get(f"/dags/{dag_id}/dagRuns/{run_id}").json())


def _task_states(demo: Demo, dag_id: str, run_id: str) -> dict[str, str]:
    with demo.api() as api:
        answer = api.get(f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances")
        return {t["task_id"]: t["state"] for t in answer.json()["task_instances"]}


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
    monitored = demo_drift.followed_runs("monitoring")
    assert [state for _, state in monitored] == ["success", "success"], demo_drift.output
    signals = [_task_states(demo, "monitoring", run_id)["signal_drift"] for run_id, _ in monitored]
    assert signals == ["skipped", "success"]


def test_drift_started_training_that_registered_nothing(demo: Demo, demo_drift: DemoDrift) -> None:
    training = demo_drift.started_run("training_pipeline", "drift")
    assert _run(demo, "training_pipeline", training)["state"] == "success"
    assert "drift" in _triggering_assets(demo, "training_pipeline", training)
    states = _task_states(demo, "training_pipeline", training)
    assert states["register"] == "success"
    assert states["publish"] == "skipped", "no champion event for a model that learned nothing"
    assert "nothing new learned, champion stays" in demo_drift.output


def _champion(demo: Demo) -> str:
    answer = httpx.get(
        f"{demo.mlflow_url}/api/2.0/mlflow/registered-models/alias",
        params={"name": "driver_ranking", "alias": "champion"},
        timeout=30,
    )
    return str(answer.json()["model_version"]["version"])


def test_the_champion_and_the_served_version_stay(demo: Demo, demo_drift: DemoDrift) -> None:
    champion = _champion(demo)
    assert f"champion stays v{champion}" in demo_drift.output
    answer = httpx.post(f"{demo.serving_url}/inference", json=REQUEST, timeout=30)
    assert answer.status_code == 200, answer.text
    assert answer.json()["model_version"] == champion
    assert min(s["score"] for s in answer.json()["scores"]) >= 0.0
    assert max(s["score"] for s in answer.json()["scores"]) <= 1.0, "scores are probabilities"


def test_prometheus_scrapes_the_service_and_fires_the_drift_alert(
    demo: Demo, demo_drift: DemoDrift
) -> None:
    targets = httpx.get(f"{demo.prometheus_url}/api/v1/targets", timeout=30).json()
    health = {t["labels"]["job"]: t["health"] for t in targets["data"]["activeTargets"]}
    assert health.get("online-service") == "up", health
    alerts = httpx.get(f"{demo.prometheus_url}/api/v1/alerts", timeout=30).json()
    firing = {a["labels"]["alertname"] for a in alerts["data"]["alerts"] if a["state"] == "firing"}
    assert "FeatureDrift" in firing, alerts
