"""`make demo`: the whole lifecycle through Airflow's REST API, ending in a live /inference answer.

Real scheduler runs, in order: data_pipeline (generate, validate, feast apply, materialize;
its daily schedule starts it when unpaused), materialize, training_pipeline (started by the
`orders` asset event of data_pipeline, gated registration), batch_serving_pipeline (started by
the `champion` asset event when the alias moved); then the online service starts under the
platform's supervisor and answers the course's example request. A DAG whose schedule or asset
event did not start a run (a second demo on the same day, a model the gates refused) is
triggered by hand.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import httpx
import typer
from mlops_common.champion import champion_or_none
from mlops_common.errors import UserError
from mlops_common.paths import run_dir
from mlops_common.settings import get_airflow_settings, get_mlflow_settings

from mlops_platform import lifecycle
from mlops_platform.airflow_client import AirflowClient, DagRunResult
from mlops_platform.airflow_env import wait_for_admin_password

EXAMPLE_REQUEST = {"request_id": "uuid-1", "driver_ids": [1001, 1002, 1003, 1004, 1005]}


@dataclass(frozen=True)
class DemoStep:
    dag_id: str
    timeout: float
    # A failed run of this DAG whose only failed task is this one is an expected outcome
    # (the model gates refused a new champion), not a broken demo.
    tolerated_failure: str | None = None
    # How its run starts: triggered by hand, or by the scheduler (its schedule or an asset
    # event of the step before), with a trigger by hand when none came within `wait_seconds`.
    start: Literal["manual", "scheduler"] = "manual"
    wait_seconds: float = 60


STEPS = (
    DemoStep("data_pipeline", timeout=900, start="scheduler", wait_seconds=45),
    DemoStep("materialize", timeout=600),
    DemoStep("training_pipeline", timeout=1200, tolerated_failure="register", start="scheduler"),
    DemoStep("batch_serving_pipeline", timeout=900, start="scheduler"),
)


def _progress(dag_id: str) -> object:
    started = time.monotonic()

    def report(tasks: dict[str, str | None]) -> None:
        states = "  ".join(f"{task}={state or 'none'}" for task, state in tasks.items())
        typer.echo(f"  [{time.monotonic() - started:5.0f} s] {dag_id}: {states}")

    return report


def champion_version() -> str | None:
    """The version the champion alias points at now (None before the first registration)."""
    champion = champion_or_none()
    return champion.version if champion else None


def _start(client: AirflowClient, step: DemoStep, known: set[str], expected: bool) -> str:
    """The run of STEP: the scheduler's when EXPECTED (schedule or asset event), else by hand."""
    client.unpause(step.dag_id)
    if step.start == "scheduler" and expected:
        run_id = client.new_run(step.dag_id, known, step.wait_seconds)
        if run_id is not None:
            typer.echo(f"{step.dag_id} run {run_id} started by the scheduler")
            return run_id
    run_id = client.trigger(step.dag_id)
    typer.echo(f"triggered {step.dag_id} run {run_id}")
    return run_id


def run_dags(
    client: AirflowClient, champion: Callable[[], str | None] = champion_version
) -> dict[str, DagRunResult]:
    """Unpause, trigger and follow each demo DAG in order; CHAMPION tells the version the
    champion alias points at (for the message when the gates keep the old one)."""
    results: dict[str, DagRunResult] = {}
    for step in STEPS:
        client.wait_for_dag(step.dag_id)
    known = {step.dag_id: client.run_ids(step.dag_id) for step in STEPS}
    # Asset events only start DAGs that are unpaused when the event happens.
    for step in STEPS[2:]:
        client.unpause(step.dag_id)
    promoted = True
    for step in STEPS:
        run_id = _start(client, step, known[step.dag_id], expected=promoted)
        result = client.wait_for_run(
            step.dag_id,
            run_id,
            step.timeout,
            on_progress=_progress(step.dag_id),  # type: ignore[arg-type]
        )
        results[step.dag_id] = result
        if result.state == "success":
            typer.echo(f"{step.dag_id}: success in {result.seconds:.0f} s")
            continue
        if step.tolerated_failure and result.failed_tasks == [step.tolerated_failure]:
            promoted = False  # no champion event: the next DAG is triggered by hand
            typer.echo(
                f"{step.dag_id}: the new model did not pass the gates; the champion stays at "
                f"version {champion()} (report in "
                f"{run_dir(step.dag_id, run_id)})"
            )
            continue
        raise UserError(
            f"DAG {step.dag_id} run {run_id} failed at {', '.join(result.failed_tasks) or '?'}; "
            f"read the task log in the Airflow UI at {client.url}"
        )
    return results


def run_demo() -> None:
    """Bring the platform up, run every DAG through the scheduler, then serve and ask."""
    started = time.monotonic()
    lifecycle.up()
    airflow = get_airflow_settings()
    password = wait_for_admin_password()
    client = AirflowClient(airflow.url, airflow.admin_user, password)
    try:
        results = run_dags(client)
    finally:
        client.close()
    typer.echo("starting the online service ...")
    serving_url = lifecycle.start_online_service()
    response = httpx.post(f"{serving_url}/inference", json=EXAMPLE_REQUEST, timeout=30)
    typer.echo(f"POST {serving_url}/inference {json.dumps(EXAMPLE_REQUEST)}")
    typer.echo(f"-> {response.status_code} {json.dumps(response.json(), indent=2)}")
    if response.status_code != 200:
        raise UserError(f"/inference answered {response.status_code}; see the service log")
    batch = results["batch_serving_pipeline"]
    predictions = run_dir("model_serving", batch.run_id) / "batch" / "predictions.parquet"
    typer.echo(
        "\nwhere to look next:\n"
        f"  Airflow UI   {airflow.url}  (user {airflow.admin_user}, password {password})\n"
        f"  MLflow UI    {get_mlflow_settings().resolved_tracking_uri}  "
        f"(model {get_mlflow_settings().model_name}, champion version {champion_version()})\n"
        f"  Swagger UI   {serving_url}/\n"
        f"  batch output {predictions}\n"
        f"demo finished in {time.monotonic() - started:.0f} s"
    )
