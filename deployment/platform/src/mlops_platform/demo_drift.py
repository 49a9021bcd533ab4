"""`make demo_drift`: the closed loop on the running platform, after `make demo`.

1. stable traffic (`data-pipeline simulate`, real requests to the online service, outcomes after
   a delay) -> a `monitoring` run over that window: quiet, no drift asset event;
2. covariate drift (the drivers' statistics shifted, materialized, served; how a trip ends
   given them unchanged) -> a `monitoring` run: drift detected, the `drift` asset event ->
   `training_pipeline` started by it, which learns nothing new (the same data as the champion
   or no better on the recent test split): it registers nothing, its `publish` step is skipped,
   no `champion` event, and the online service keeps answering with the same version;
3. the Prometheus alert `FeatureDrift` firing.

Every step prints its Airflow run, the MLflow monitoring run and where to look.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import httpx
import typer
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

TRAFFIC_SECONDS = 40
RATE = 15
WINDOW_MINUTES = 1  # each monitoring run judges the traffic just sent
OUTCOME_DELAY = 3


def _simulate(service_url: str, scenario: str, seed: int) -> None:
    command = [
        str(Path(sys.executable).parent / "data-pipeline"),
        "simulate",
        "--service-url",
        service_url,
        "--duration",
        str(TRAFFIC_SECONDS),
        "--rate",
        str(RATE),
        "--scenario",
        scenario,
        "--outcome-delay",
        str(OUTCOME_DELAY),
        "--seed",
        str(seed),
    ]
    typer.echo(f"  {scenario} traffic: {RATE} req/s for {TRAFFIC_SECONDS} s ...")
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise UserError(f"the simulator failed: {(result.stderr or result.stdout)[-500:]}")
    typer.echo(f"  {result.stdout.strip().splitlines()[-1]}")


def _wait(client: AirflowClient, dag_id: str, run_id: str, timeout: float) -> DagRunResult:
    result = client.wait_for_run(dag_id, run_id, timeout)
    states = ", ".join(f"{task}={state}" for task, state in result.task_states.items())
    typer.echo(f"  {dag_id} {run_id}: {result.state} in {result.seconds:.0f} s ({states})")
    typer.echo(f"    {client.url}/dags/{dag_id}/runs/{run_id}")
    if result.state != "success":
        raise UserError(f"{dag_id} run {run_id} {result.state}; read its task logs in the UI")
    return result


def _monitor(client: AirflowClient) -> tuple[DagRunResult, dict[str, object]]:
    run_id = client.trigger("monitoring", conf={"window_minutes": WINDOW_MINUTES})
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


def _firing_alert(name: str) -> dict[str, object] | None:
    url = get_prometheus_settings().url
    alerts = httpx.get(f"{url}/api/v1/alerts", timeout=10).json()["data"]["alerts"]
    for alert in alerts:
        if alert["labels"].get("alertname") == name and alert["state"] == "firing":
            return dict(alert)
    return None


def run_demo_drift() -> None:
    started = time.monotonic()
    lifecycle.up()
    if champion_version() is None:
        raise UserError("no champion model yet: run `make demo` first")
    airflow = get_airflow_settings()
    client = AirflowClient(airflow.url, airflow.admin_user, wait_for_admin_password())
    try:
        service_url = lifecycle.start_online_service()
        for dag_id in ("monitoring", "training_pipeline", "batch_serving_pipeline"):
            client.wait_for_dag(dag_id)
            client.unpause(dag_id)  # asset events start only unpaused DAGs
        before = champion_version()
        typer.echo(f"1. stable traffic, champion v{before}")
        _simulate(service_url, "stable", seed=1)
        _, quiet = _monitor(client)
        if quiet["alarm"]:
            raise UserError(f"stable traffic raised an alarm: {quiet['alarm_reasons']}")
        typer.echo("   quiet: signal_drift skipped, no drift event")

        typer.echo("2. drifted traffic")
        known_training = client.run_ids("training_pipeline")
        _simulate(service_url, "drift", seed=2)
        _, drifted = _monitor(client)
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

        typer.echo("3. Prometheus")
        alert = wait_for(
            lambda: _firing_alert("FeatureDrift"),
            timeout=120,
            interval=5,
            timeout_error=lambda: UserError("FeatureDrift is not firing in Prometheus"),
        )
        prometheus = get_prometheus_settings().url
        typer.echo(f"   alert FeatureDrift firing since {alert['activeAt']}: {prometheus}/alerts")
    finally:
        client.close()
    typer.echo(f"demo_drift finished in {time.monotonic() - started:.0f} s")
