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
from mlops_platform.processes import wait_for

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


def test_drift_started_training_and_the_champion_started_batch(
    demo: Demo, demo_drift: DemoDrift
) -> None:
    training = demo_drift.started_run("training_pipeline", "drift")
    assert _run(demo, "training_pipeline", training)["state"] == "success"
    assert "drift" in _triggering_assets(demo, "training_pipeline", training)

    batch = demo_drift.started_run("batch_serving_pipeline", "champion")
    assert _run(demo, "batch_serving_pipeline", batch)["state"] == "success"
    assert "champion" in _triggering_assets(demo, "batch_serving_pipeline", batch)


def _champion(demo: Demo) -> str:
    answer = httpx.get(
        f"{demo.mlflow_url}/api/2.0/mlflow/registered-models/alias",
        params={"name": "driver_ranking", "alias": "champion"},
        timeout=30,
    )
    return str(answer.json()["model_version"]["version"])


def test_the_service_answers_with_the_new_champion(demo: Demo, demo_drift: DemoDrift) -> None:
    assert int(_champion(demo)) >= 2, "the drift retraining registered a new champion"
    # The service follows the alias by itself within its check interval; an hourly monitoring
    # run of the platform may have moved the alias again since the demo ended.
    served: list[str] = []

    def follows() -> bool:
        answer = httpx.post(f"{demo.serving_url}/inference", json=REQUEST, timeout=30)
        assert answer.status_code == 200, answer.text
        served.append(str(answer.json()["model_version"]))
        return served[-1] == _champion(demo)

    wait_for(follows, timeout=180, interval=3, timeout_error=lambda: AssertionError(served))


def test_prometheus_scrapes_the_service_and_fires_the_drift_alert(
    demo: Demo, demo_drift: DemoDrift
) -> None:
    targets = httpx.get(f"{demo.prometheus_url}/api/v1/targets", timeout=30).json()
    health = {t["labels"]["job"]: t["health"] for t in targets["data"]["activeTargets"]}
    assert health.get("online-service") == "up", health
    alerts = httpx.get(f"{demo.prometheus_url}/api/v1/alerts", timeout=30).json()
    firing = {a["labels"]["alertname"] for a in alerts["data"]["alerts"] if a["state"] == "firing"}
    assert "FeatureDrift" in firing, alerts
