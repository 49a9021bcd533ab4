"""`make demo_drift`: the closed loop on the running platform, after `make demo`.

1. stable traffic (`data-pipeline simulate`, real requests to the online service, outcomes after
   a delay) -> a `monitoring` run over that window: quiet, no drift asset event;
   materialization paused (the `materialize` DAG paused; `simulate --scenario stale`: the
   drivers' statistics move on in the offline store, not in Redis) -> a `monitoring` run:
   training-serving skew above its gate, the Prometheus alert `TrainingServingSkew` firing;
   materialization resumed (a `materialize` run) -> the next window: skew 0, the alert clear;
2. covariate drift (the drivers' statistics shifted, materialized, served; how a trip ends
   given them unchanged) -> a `monitoring` run: drift detected, the `drift` asset event ->
   `training_pipeline` started by it, which learns nothing new (the same data as the champion
   or no better on the recent test split): it registers nothing, its `publish` step is skipped,
   no `champion` event, and the online service keeps answering with the same version;
3. concept drift (the statistics as they are, but how a trip ends given them changed:
   `data-pipeline simulate --scenario concept`) -> `label_dispatches` turns the served
   dispatches with outcomes into training rows -> a `monitoring` run: the champion's live ROC
   AUC falls below its gate, monitoring records on the registered model when the relation
   changed, the `drift` event starts `training_pipeline`, whose window starts at that change
   (the served dispatches since, features as served) -> the candidate beats the champion on the
   recent test split and becomes `challenger` (PROMOTION_MODE=shadow, the default): the online
   service scores it beside the champion on a window of live traffic and the monitoring DAG's
   judgement promotes it on those outcomes (PROMOTION_MODE=direct: `champion` at once); the
   online service swaps to the new champion -> the next window of the same changed world: the
   live ROC AUC is back near its level before the change;
4. the Prometheus alert `FeatureDrift` firing.

The daily `data_pipeline` is paused while the demo runs (its midnight run regenerates the
drivers' statistics under the simulator) and unpaused after, if it was unpaused before.
Every step prints its Airflow run, the MLflow monitoring run and where to look.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import typer
from mlops_common.champion import (
    EVIDENCE_TAG,
    JUDGED_BY_TAG,
    PROMOTION_TAG,
    relation_changed_at,
    resolve_champion,
)
from mlops_common.errors import UserError
from mlops_common.files import read_json
from mlops_common.paths import run_dir
from mlops_common.settings import (
    get_airflow_settings,
    get_mlflow_settings,
    get_prometheus_settings,
)

from mlops_platform import lifecycle
from mlops_platform.airflow_client import AirflowClient, DagRunResult
from mlops_platform.airflow_env import wait_for_admin_password
from mlops_platform.demo import EXAMPLE_REQUEST, champion_version
from mlops_platform.processes import wait_for

# Every traffic step: 55 s at 22 req/s, about 1,200 outcomes (the ROC AUC of a 1,200-outcome
# window varies by about 0.015 around its level), inside the 1-minute monitoring window.
TRAFFIC_SECONDS = 55
RATE = 22
WINDOW_MINUTES = 1  # each monitoring run judges the traffic just sent
# The skew windows need served rows only (2,000 are sampled): 20 s at 22 req/s, 5 candidates.
SKEW_TRAFFIC_SECONDS = 20
OUTCOME_DELAY = 3


def _simulate(
    service_url: str,
    scenario: str,
    seed: int,
    *,
    seconds: float = TRAFFIC_SECONDS,
    rate: float = RATE,
) -> float:
    """Send SECONDS of SCENARIO traffic; the monotonic time it ended."""
    command = [
        str(Path(sys.executable).parent / "data-pipeline"),
        "simulate",
        "--service-url",
        service_url,
        "--duration",
        str(seconds),
        "--rate",
        str(rate),
        "--scenario",
        scenario,
        "--outcome-delay",
        str(OUTCOME_DELAY),
        "--seed",
        str(seed),
    ]
    typer.echo(f"  {scenario} traffic: {rate} req/s for {seconds} s ...")
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise UserError(f"the simulator failed: {(result.stderr or result.stdout)[-500:]}")
    typer.echo(f"  {result.stdout.strip().splitlines()[-1]}")
    return time.monotonic()


def _window_clear_of(traffic_end: float, seconds: float) -> None:
    """Wait until SECONDS of traffic sent from now will fill a monitoring window of its own:
    the traffic that ended at TRAFFIC_END (monotonic) is then before the window's start."""
    left = WINDOW_MINUTES * 60 + 2 - seconds - (time.monotonic() - traffic_end)
    if left > 0:
        typer.echo(f"   {left:.0f} s for the earlier traffic to leave the monitoring window")
        time.sleep(left)


def _wait(client: AirflowClient, dag_id: str, run_id: str, timeout: float) -> DagRunResult:
    result = client.wait_for_run(dag_id, run_id, timeout)
    states = ", ".join(f"{task}={state}" for task, state in result.task_states.items())
    typer.echo(f"  {dag_id} {run_id}: {result.state} in {result.seconds:.0f} s ({states})")
    typer.echo(f"    {client.url}/dags/{dag_id}/runs/{run_id}")
    if result.state != "success":
        raise UserError(f"{dag_id} run {run_id} {result.state}; read its task logs in the UI")
    return result


def _monitor(
    client: AirflowClient, window_minutes: int = WINDOW_MINUTES
) -> tuple[DagRunResult, dict[str, object]]:
    run_id = client.trigger("monitoring", conf={"window_minutes": window_minutes})
    result = _wait(client, "monitoring", run_id, 600)
    summary = read_json(run_dir("monitoring_pipeline", run_id) / "summary.json")
    mlflow = get_mlflow_settings().resolved_tracking_uri
    typer.echo(f"    {summary['message']}; alarm: {summary['alarm_reasons'] or 'none'}")
    live = summary.get("live") or {}
    if live:
        typer.echo(
            f"    live ROC AUC {live['roc_auc']:.3f} on {live['outcomes']} outcomes (gate "
            f"{summary['live_roc_auc_gate']}, champion test AUC {summary['champion_test_roc_auc']})"
        )
    skew = summary.get("skew")
    if isinstance(skew, dict):
        worst = skew["worst_feature"]
        typer.echo(
            f"    training-serving skew: largest share {skew['max_share']:.3f} ({worst}) on "
            f"{skew['rows']} sampled served rows (gate {skew['gate']})"
        )
    typer.echo(f"    report in MLflow: {_mlflow_run_url(mlflow, str(summary['mlflow_run_id']))}")
    typer.echo(f"    files: {summary['report']}")
    return result, summary


def _mlflow_run_url(mlflow: str, run_id: str) -> str:
    """The MLflow UI page of RUN_ID (the UI's address holds the experiment id too)."""
    response = httpx.get(f"{mlflow}/api/2.0/mlflow/runs/get", params={"run_id": run_id}, timeout=10)
    experiment = response.json()["run"]["info"]["experiment_id"] if response.is_success else "0"
    return f"{mlflow}/#/experiments/{experiment}/runs/{run_id}"


def _served_version(service_url: str) -> str:
    response = httpx.post(f"{service_url}/inference", json=EXAMPLE_REQUEST, timeout=30)
    response.raise_for_status()
    return str(response.json()["model_version"])


def _firing_alert(name: str) -> dict[str, Any] | None:
    url = get_prometheus_settings().url
    alerts = httpx.get(f"{url}/api/v1/alerts", timeout=10).json()["data"]["alerts"]
    for alert in alerts:
        if alert["labels"].get("alertname") == name and alert["state"] == "firing":
            return dict(alert)
    return None


def _skew_share(summary: dict[str, object]) -> float:
    skew = summary.get("skew")
    if not isinstance(skew, dict):
        raise UserError(
            f"the monitoring run measured no training-serving skew: {summary['message']}"
        )
    return float(skew["max_share"])


def _materialization_paused(client: AirflowClient, service_url: str, traffic_end: float) -> None:
    """Step 1b: the `materialize` DAG paused while the statistics move on offline -> skew and
    its alert; a `materialize` run -> the next window clean, the alert resolved. Each of the
    two windows holds its own traffic only (the stable traffic ended at TRAFFIC_END)."""
    client.pause("materialize")
    try:
        typer.echo("   the materialize DAG paused")
        _window_clear_of(traffic_end, SKEW_TRAFFIC_SECONDS)
        stale_end = _simulate(service_url, "stale", seed=11, seconds=SKEW_TRAFFIC_SECONDS)
        _, stale = _monitor(client)
        if stale["alarm"]:
            raise UserError(f"the stale window raised an alarm: {stale['alarm_reasons']}")
        share = _skew_share(stale)
        if not stale["skew"]["detected"]:  # type: ignore[index]
            raise UserError(f"no skew while materialization was paused (largest share {share})")
        alert = wait_for(
            lambda: _firing_alert("TrainingServingSkew"),
            timeout=120,
            interval=5,
            timeout_error=lambda: UserError("TrainingServingSkew is not firing in Prometheus"),
        )
        typer.echo(
            f"   alert TrainingServingSkew firing since {alert['activeAt']} "
            f"({alert['labels'].get('feature')}): {get_prometheus_settings().url}/alerts"
        )
    finally:
        client.unpause("materialize")
    run_id = client.trigger("materialize")
    _wait(client, "materialize", run_id, 300)
    typer.echo("   materialization resumed")
    _window_clear_of(stale_end, SKEW_TRAFFIC_SECONDS)
    _simulate(service_url, "stable", seed=12, seconds=SKEW_TRAFFIC_SECONDS)
    _, resumed = _monitor(client)
    if resumed["skew"]["detected"]:  # type: ignore[index]
        raise UserError(f"skew after materialization resumed: {resumed['skew']}")
    wait_for(
        lambda: _firing_alert("TrainingServingSkew") is None or None,
        timeout=120,
        interval=5,
        timeout_error=lambda: UserError("TrainingServingSkew still fires after materialization"),
    )
    typer.echo(
        f"   skew {share:.3f} -> {_skew_share(resumed):.3f}: alert TrainingServingSkew cleared"
    )


def _live_auc(summary: dict[str, object]) -> float:
    live = summary.get("live")
    if not isinstance(live, dict):
        raise UserError(f"no live ROC AUC in this window (too few outcomes): {summary['message']}")
    return float(live["roc_auc"])


def _collect_labels(client: AirflowClient) -> None:
    """The hourly `label_dispatches`, run now: the window's served dispatches with outcomes
    become training rows before monitoring's alarm starts training."""
    run_id = client.trigger("label_dispatches")
    _wait(client, "label_dispatches", run_id, 300)


def _served_challenger(service_url: str) -> str | None:
    """The challenger version the online service holds (its `/readyz`), or None."""
    response = httpx.get(f"{service_url}/readyz", timeout=30)
    challenger = response.json().get("challenger") or {}
    model = challenger.get("model") or {}
    return str(model["version"]) if model.get("version") else None


def _shadow_judgement(client: AirflowClient, service_url: str, challenger: str) -> None:
    """PROMOTION_MODE=shadow: the candidate is `challenger`; the service scores it beside the
    champion on live traffic, and the monitoring DAG's `judge_challenger` decides on the
    outcomes of the shadowed requests."""
    wait_for(
        lambda: _served_challenger(service_url) == challenger or None,
        timeout=180,
        interval=2,
        timeout_error=lambda: UserError(f"the online service never held challenger v{challenger}"),
    )
    typer.echo(f"   the online service scores challenger v{challenger} in shadow")
    _simulate(service_url, "concept", seed=4)
    judged, _ = _monitor(client)
    report = read_json(run_dir("monitoring_pipeline", judged.run_id) / "challenger.json")
    decided_by, decision = judged.run_id, report.get("decision")
    evidence, reason = report.get("evidence") or {}, report.get("reason")
    judged_version = report.get("challenger_version")
    if judged_version is not None and str(judged_version) != challenger:
        raise UserError(
            f"monitoring run {judged.run_id} judged challenger v{judged_version}, not "
            f"v{challenger} that the retraining registered: the challenger was replaced"
        )
    if decision == "none":
        # The hourly scheduled run may have judged it first, at the top of the hour: the
        # version's tags hold that run's decision and evidence.
        champion = resolve_champion()
        if champion.version == challenger and PROMOTION_TAG in champion.tags:
            decision, reason = "promote", champion.tags[PROMOTION_TAG]
            decided_by = champion.tags.get(JUDGED_BY_TAG, "another monitoring run")
            evidence = json.loads(champion.tags.get(EVIDENCE_TAG, "{}"))
    if evidence:
        typer.echo(
            f"   shadow judgement on {evidence['samples']} outcomes: live ROC AUC champion "
            f"{evidence['champion_auc']:.3f}, challenger {evidence['challenger_auc']:.3f}, "
            f"difference {evidence['auc_difference']:+.3f} (anytime-valid interval "
            f"[{evidence['auc_lower']:+.3f}, {evidence['auc_upper']:+.3f}])"
        )
    if decision != "promote":
        raise UserError(f"challenger v{challenger} was not promoted: {reason}")
    typer.echo(f"   promoted on live evidence: {reason}")
    typer.echo(f"   judged by monitoring run {decided_by}")


def _concept_drift(
    client: AirflowClient, service_url: str, first_auc: float, drifted_auc: float
) -> None:
    """Step 3: the drop, the retraining on the recent window, the new champion, the recovery."""
    before = champion_version()
    known_training = client.run_ids("training_pipeline")
    changed = time.monotonic()
    _simulate(service_url, "concept", seed=3)
    _collect_labels(client)
    _, concept = _monitor(client, window_minutes=2)  # the traffic, then the label run
    fallen_auc = _live_auc(concept)
    if "live_roc_auc_below_gate" not in concept["alarm_reasons"]:  # type: ignore[operator]
        raise UserError(f"the concept change raised no live ROC AUC alarm: {concept['message']}")
    spread = abs(first_auc - drifted_auc)
    typer.echo(
        f"   live ROC AUC fell {first_auc:.3f} -> {fallen_auc:.3f} "
        f"(drop {first_auc - fallen_auc:.3f}; two windows of the same champion before the change "
        f"differ by {spread:.3f}); the relation changed at {concept['relation_changed_at']}"
    )
    training_run = client.new_run("training_pipeline", known_training, 120)
    if training_run is None:
        raise UserError("the live ROC AUC alarm started no training_pipeline run")
    typer.echo(f"   training_pipeline run {training_run} started by the drift event")
    _wait(client, "training_pipeline", training_run, 1200)
    files = run_dir("training_pipeline", training_run)
    preparation = read_json(files / "preparation.json")
    decision = read_json(files / "gates.json")
    typer.echo(
        f"   window {preparation.get('window')}: {preparation['train_rows']} train / "
        f"{preparation['test_rows']} test rows"
    )
    beats = {g["name"]: g for g in decision.get("promotion", [])}.get("beats_champion")
    champion_before = decision.get("champion_before") or {}
    if beats is not None and champion_before:
        typer.echo(
            f"   recent test ROC AUC: candidate {float(beats['value']):.3f} vs champion "
            f"v{champion_before.get('version')} {float(champion_before['roc_auc']):.3f}"
        )
    if not decision.get("promoted"):
        raise UserError(f"the retrained model was not registered: {decision.get('decision')}")
    typer.echo(f"   {decision.get('decision')}")
    if decision.get("role") == "challenger":
        _shadow_judgement(client, service_url, str(decision["registered_version"]))
    after = champion_version()
    if after == before:
        raise UserError(f"the champion is still v{before}: {decision.get('decision')}")
    wait_for(
        lambda: _served_version(service_url) == after or None,
        timeout=180,
        interval=2,
        timeout_error=lambda: UserError(f"the online service never answered with v{after}"),
    )
    typer.echo(
        f"   the online service answers v{after}, {time.monotonic() - changed:.0f} s after the "
        "change began"
    )
    _simulate(service_url, "concept", seed=5)
    _, recovered = _monitor(client)
    recovered_auc = _live_auc(recovered)
    typer.echo(
        f"   recovered: live ROC AUC {recovered_auc:.3f} with v{after} (before the change "
        f"{first_auc:.3f}, difference {recovered_auc - first_auc:+.3f}; after it, with "
        f"v{before}, {fallen_auc:.3f})"
    )


def run_demo_drift() -> None:
    started = time.monotonic()
    lifecycle.up()
    if champion_version() is None:
        raise UserError("no champion model yet: run `make demo` first")
    changed_at = relation_changed_at()
    if changed_at is not None:
        raise UserError(
            f"demo_drift already ran on this platform: its concept change (recorded at "
            f"{changed_at.isoformat()}) is part of this world now, so 'stable' traffic would not "
            "be stable; start again from a fresh platform: `make down`, remove .platform/ and "
            "data/ (MLOPS_STATE_DIR, MLOPS_DATA_DIR), then `make demo`"
        )
    airflow = get_airflow_settings()
    client = AirflowClient(airflow.url, airflow.admin_user, wait_for_admin_password())
    # The daily data_pipeline run regenerates the drivers' statistics and materializes them:
    # at midnight it would change the world the simulator drives in the middle of a window.
    # Paused for the demo's length and restored after.
    daily_was_paused = client.is_paused("data_pipeline")
    client.pause("data_pipeline")
    try:
        service_url = lifecycle.start_online_service()
        for dag_id in (
            "monitoring",
            "training_pipeline",
            "batch_serving_pipeline",
            "label_dispatches",
        ):
            client.wait_for_dag(dag_id)
            client.unpause(dag_id)  # asset events start only unpaused DAGs
        before = champion_version()
        typer.echo(f"1. stable traffic, champion v{before}")
        stable_end = _simulate(service_url, "stable", seed=1)
        _, quiet = _monitor(client)
        first_auc = _live_auc(quiet)
        if quiet["alarm"]:
            raise UserError(f"stable traffic raised an alarm: {quiet['alarm_reasons']}")
        typer.echo("   quiet: signal_drift skipped, no drift event")
        _materialization_paused(client, service_url, stable_end)

        typer.echo("2. drifted traffic")
        known_training = client.run_ids("training_pipeline")
        _simulate(service_url, "drift", seed=2)
        _, drifted = _monitor(client)
        drifted_auc = _live_auc(drifted)
        if "drift" not in drifted["alarm_reasons"]:  # type: ignore[operator]
            raise UserError(f"the drift scenario was not detected: {drifted['message']}")
        typer.echo("   drift detected: signal_drift emitted the drift asset event")
        training_run = client.new_run("training_pipeline", known_training, 120)
        if training_run is None:
            raise UserError("the drift asset event started no training_pipeline run")
        typer.echo(f"   training_pipeline run {training_run} started by the drift event")
        trained = _wait(client, "training_pipeline", training_run, 1200)
        decision = read_json(run_dir("training_pipeline", training_run) / "gates.json")
        after = champion_version()
        if decision.get("promoted") or after != before:
            raise UserError(
                f"covariate drift registered a new champion v{after}: {decision.get('decision')}"
            )
        typer.echo(
            f"   nothing new learned, champion stays v{after}: {decision.get('decision')} "
            f"(publish {trained.task_states.get('publish')}, no champion event)"
        )
        served = _served_version(service_url)
        if served != before:
            raise UserError(f"the online service answers v{served}, not the champion v{before}")
        typer.echo(f"   the online service still answers with v{served}")

        typer.echo("3. concept drift")
        _concept_drift(client, service_url, first_auc, drifted_auc)

        typer.echo("4. Prometheus")
        alert = wait_for(
            lambda: _firing_alert("FeatureDrift"),
            timeout=120,
            interval=5,
            timeout_error=lambda: UserError("FeatureDrift is not firing in Prometheus"),
        )
        prometheus = get_prometheus_settings().url
        typer.echo(f"   alert FeatureDrift firing since {alert['activeAt']}: {prometheus}/alerts")
    finally:
        try:
            if not daily_was_paused:
                client.unpause("data_pipeline")
        finally:
            client.close()
    typer.echo(f"demo_drift finished in {time.monotonic() - started:.0f} s")
