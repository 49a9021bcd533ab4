"""`make demo` end to end: real scheduler runs of every DAG, then a live /inference answer."""

from __future__ import annotations

from typing import TYPE_CHECKING

import httpx
import pandas as pd
import pytest

if TYPE_CHECKING:
    from tests.e2e.conftest import Demo


pytestmark = [pytest.mark.slow, pytest.mark.integration]

DAGS = ("data_pipeline", "materialize", "training_pipeline", "batch_serving_pipeline")
REQUEST = {"request_id": "uuid-1", "driver_ids": [1001, 1002, 1003, 1004, 1005]}


def test_demo_ends_with_an_inference_answer(demo: Demo) -> None:
    assert demo.returncode == 0, demo.output[-5000:]
    assert "/inference" in demo.output
    assert '"best_driver_id"' in demo.output
    assert "where to look next" in demo.output


@pytest.mark.parametrize("dag_id", DAGS)
def test_every_dag_ran_through_the_scheduler_and_succeeded(demo: Demo, dag_id: str) -> None:
    with demo.api() as api:
        runs = api.get(f"/dags/{dag_id}/dagRuns").json()["dag_runs"]
    assert runs, f"{dag_id} never ran"
    assert any(run["state"] == "success" for run in runs), runs


def test_training_and_batch_were_started_by_asset_events(demo: Demo) -> None:
    """data_pipeline's `orders` event started training; the `champion` event of its register
    task started batch serving (the demo triggers them by hand only when no event came)."""
    with demo.api() as api:
        for dag_id in ("training_pipeline", "batch_serving_pipeline"):
            runs = api.get(f"/dags/{dag_id}/dagRuns").json()["dag_runs"]
            kinds = {run["run_type"] for run in runs if run["state"] == "success"}
            assert "asset_triggered" in kinds, (dag_id, runs)


def test_a_champion_model_is_registered(demo: Demo) -> None:
    response = httpx.get(
        f"{demo.mlflow_url}/api/2.0/mlflow/registered-models/alias",
        params={"name": "driver_ranking", "alias": "champion"},
        timeout=10,
    )
    assert response.status_code == 200
    assert int(response.json()["model_version"]["version"]) >= 1


def test_batch_output_has_one_row_per_request(demo: Demo) -> None:
    # The path the demo prints under "where to look next".
    printed = [
        line.split("batch output", 1)[1].strip()
        for line in demo.output.splitlines()
        if line.strip().startswith("batch output")
    ]
    assert printed, demo.output[-2000:]
    predictions = pd.read_parquet(printed[-1])
    assert len(predictions) == int(demo.env["DATA_N_BATCH_REQUESTS"])
    assert predictions["prediction"].notna().mean() > 0.8


def test_inference_answers_a_driver_from_the_request(demo: Demo) -> None:
    response = httpx.post(f"{demo.serving_url}/inference", json=REQUEST, timeout=30)
    assert response.status_code == 200
    body = response.json()
    assert body["request_id"] == "uuid-1"
    assert body["best_driver_id"] in REQUEST["driver_ids"]
