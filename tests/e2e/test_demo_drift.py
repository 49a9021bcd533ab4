"""`make demo_drift` after `make demo`: the closed loop in real scheduler runs.

Stable traffic gives a quiet monitoring window; with materialization paused the next window
shows training-serving skew and its alert, which clear once it resumes; covariate-drifted
traffic raises the alarm, whose `drift` asset event starts training_pipeline; that run learns
nothing new (the champion's data), registers nothing and emits no `champion` event, and the
online service keeps its version.
Then concept drift: the live ROC AUC falls, the alarm starts training on the window since the
change, the candidate beats the champion on the recent test split and is promoted, the service
answers it and the next window's live ROC AUC is back near the level before the change.
Runs after tests/e2e/test_demo.py (same session platform).
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

import httpx
import pytest

if TYPE_CHECKING:
    from tests.e2e.conftest import Demo, DemoDrift

# The first test's budget holds the whole `demo_drift` run (its session fixture): about 15
# minutes on a slow machine, past the suite's 900 s default.
pytestmark = [pytest.mark.slow, pytest.mark.integration, pytest.mark.timeout(2400)]

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


def test_demo_drift_succeeds(demo: Demo, demo_drift: DemoDrift) -> None:
    assert demo_drift.returncode == 0, demo_drift.output[-5000:]
    # Paused for the demo's length (its midnight run would change the drivers' statistics
    # under the simulator), unpaused again after it as `make demo` left it.
    with demo.api() as api:
        assert api.get("/dags/data_pipeline").json()["is_paused"] is False
    assert "quiet: signal_drift skipped" in demo_drift.output
    assert "drift detected" in demo_drift.output
    assert "alert FeatureDrift firing" in demo_drift.output


# The demo's monitoring runs, in order: stable, materialization paused, resumed, covariate
# drift, concept drift, the shadow judgement, the recovered window.
STABLE, STALE, RESUMED, DRIFTED, CONCEPT, JUDGED, RECOVERED = range(7)


def test_a_quiet_window_then_an_alarm(demo: Demo, demo_drift: DemoDrift) -> None:
    monitored = demo_drift.followed_runs("monitoring")
    windows = [monitored[STABLE], monitored[STALE], monitored[RESUMED], monitored[DRIFTED]]
    assert [state for _, state in windows] == ["success"] * 4, demo_drift.output
    signals = [_task_states(demo, "monitoring", run_id)["signal_drift"] for run_id, _ in windows]
    assert signals == ["skipped", "skipped", "skipped", "success"], "only covariate drift alarms"


def test_paused_materialization_shows_skew_and_its_alert(demo_drift: DemoDrift) -> None:
    """Stale online features: the skew of the paused window above the gate and its alert
    firing; after a `materialize` run the next window is clean and the alert resolved."""
    shares = [
        float(x)
        for x in re.findall(r"training-serving skew: largest share (\S+) ", demo_drift.output)
    ]
    assert len(shares) == 7, shares
    gate = float(_figure(r"sampled served rows \(gate (\S+)\)", demo_drift.output)[0])
    assert shares[STABLE] <= gate, shares
    assert shares[STALE] > 0.5, "the drivers' statistics all moved on offline"
    assert shares[RESUMED] <= gate, shares
    assert "alert TrainingServingSkew firing since" in demo_drift.output
    assert "alert TrainingServingSkew cleared" in demo_drift.output
    assert [state for _, state in demo_drift.followed_runs("materialize")] == ["success"]


def test_drift_started_training_that_registered_nothing(demo: Demo, demo_drift: DemoDrift) -> None:
    training = demo_drift.started_runs("training_pipeline", "drift")[0]
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


def _figure(pattern: str, output: str) -> tuple[str, ...]:
    found = re.search(pattern, output)
    assert found, f"{pattern!r} not in:\n{output[-4000:]}"
    return found.groups()


def test_covariate_drift_keeps_the_champion(demo_drift: DemoDrift) -> None:
    (kept,) = _figure(r"champion stays v(\d+)", demo_drift.output)
    (concept_before,) = _figure(
        r"recent test ROC AUC: candidate \S+ vs champion v(\d+)", demo_drift.output
    )
    assert concept_before == kept, "the covariate-drift run registered no version"


def test_concept_drift_is_learnt_and_the_live_auc_recovers(
    demo: Demo, demo_drift: DemoDrift
) -> None:
    monitored = demo_drift.followed_runs("monitoring")
    assert [state for _, state in monitored] == ["success"] * 7, demo_drift.output
    outcomes = [
        int(n) for n in re.findall(r"live ROC AUC \S+ on (\d+) outcomes", demo_drift.output)
    ]
    assert len(outcomes) == 7, outcomes
    assert min(outcomes) >= 300, outcomes

    first, fallen = (
        float(x) for x in _figure(r"live ROC AUC fell (\S+) -> (\S+) ", demo_drift.output)
    )
    assert fallen <= first - 0.08, (first, fallen)

    training = demo_drift.started_runs("training_pipeline", "drift")[1]
    assert "drift" in _triggering_assets(demo, "training_pipeline", training)
    states = _task_states(demo, "training_pipeline", training)
    assert states["publish"] == "skipped", "shadow mode: no champion event from training"
    assert states["publish_challenger"] == "success", "the candidate became challenger"
    assert "since the relation changed" in demo_drift.output
    candidate, old = (
        float(x)
        for x in _figure(
            r"recent test ROC AUC: candidate (\S+) vs champion v\d+ (\S+)", demo_drift.output
        )
    )
    assert candidate > old, (candidate, old)

    # Back to at least 0.04 below the level before the change: the new relation is as
    # predictable as the old (data_pipeline/README.md), so a model that learnt it may also do
    # better than the old champion did before.
    (recovered, new_version) = _figure(
        r"recovered: live ROC AUC (\S+) with v(\d+)", demo_drift.output
    )
    assert float(recovered) >= first - 0.04, (first, recovered)
    assert _champion(demo) == new_version
    answer = httpx.post(f"{demo.serving_url}/inference", json=REQUEST, timeout=30)
    assert answer.status_code == 200, answer.text
    assert answer.json()["model_version"] == new_version
    scores = [s["score"] for s in answer.json()["scores"]]
    assert min(scores) >= 0.0, "scores are probabilities"
    assert max(scores) <= 1.0, "scores are probabilities"


def test_the_challenger_is_promoted_on_live_evidence(demo: Demo, demo_drift: DemoDrift) -> None:
    """PROMOTION_MODE=shadow: the retrained candidate shadowed a window of live traffic and the
    monitoring DAG's judgement promoted it, emitting the `champion` event."""
    samples, champion, challenger, lower = _figure(
        r"shadow judgement on (\d+) outcomes: live ROC AUC champion (\S+), challenger (\S+), "
        r"difference \S+ \(anytime-valid interval \[(\S+), ",
        demo_drift.output,
    )
    assert int(samples) >= 300
    assert float(challenger) > float(champion)
    assert float(lower) > 0, "the interval excludes no difference"
    assert "promoted on live evidence" in demo_drift.output
    # The demo's own run, or the hourly scheduled one when it crossed the top of the hour.
    (judged,) = _figure(r"judged by monitoring run (\S+)\n", demo_drift.output)
    states = _task_states(demo, "monitoring", judged)
    assert states["judge_challenger"] == "success"
    assert states["signal_champion"] == "success", "the promotion's champion event"
    # One challenger at a time: the promoted window's alarm starts no retraining.
    assert states["signal_drift"] == "skipped"


def test_prometheus_scrapes_the_service_and_fires_the_drift_alert(
    demo: Demo, demo_drift: DemoDrift
) -> None:
    targets = httpx.get(f"{demo.prometheus_url}/api/v1/targets", timeout=30).json()
    health = {t["labels"]["job"]: t["health"] for t in targets["data"]["activeTargets"]}
    assert health.get("online-service") == "up", health
    alerts = httpx.get(f"{demo.prometheus_url}/api/v1/alerts", timeout=30).json()
    firing = {a["labels"]["alertname"] for a in alerts["data"]["alerts"] if a["state"] == "firing"}
    assert "FeatureDrift" in firing, alerts
