"""DAGs in containers mode: every task a DockerOperator container started through podman.

The data, training and batch serving DAGs run once with `airflow dags test` (tasks share the
artifact volume, reach Redis and MLflow by name); then the online service runs from the
serving image and answers `POST /inference` with the champion the training DAG registered.
"""

from __future__ import annotations

import subprocess
from typing import Any

import httpx
import pytest

DAGS = ("data_pipeline", "training_pipeline", "batch_serving_pipeline")


@pytest.fixture(scope="module")
def dag_runs(engine: Any, platform: None) -> subprocess.CompletedProcess[str]:
    return engine.script("dags_test.sh", *DAGS, timeout=2400)


def ports(engine: Any) -> dict[str, str]:
    result = engine.script("platform.sh", "ports")
    return dict(line.split("=", 1) for line in result.stdout.split())


def test_data_training_and_batch_dags_succeed_with_docker_operator(
    dag_runs: subprocess.CompletedProcess[str],
) -> None:
    assert dag_runs.returncode == 0, dag_runs.stdout + dag_runs.stderr
    for dag_id in DAGS:
        assert f"{dag_id} " in dag_runs.stdout


def test_training_registered_a_champion_in_the_mlflow_container(
    engine: Any,
    dag_runs: subprocess.CompletedProcess[str],
) -> None:
    assert dag_runs.returncode == 0
    response = httpx.get(
        f"{ports(engine)['mlflow']}/api/2.0/mlflow/registered-models/alias",
        params={"name": "driver_ranking", "alias": "champion"},
    )
    assert response.status_code == 200, response.text
    assert response.json()["model_version"]["version"]


def test_batch_predictions_are_on_the_artifact_volume(
    engine: Any,
    dag_runs: subprocess.CompletedProcess[str],
) -> None:
    assert dag_runs.returncode == 0
    summary = engine.batch_summary()
    assert summary["rows_predicted"] > 0
    assert summary["rows_in"] == summary["rows_predicted"] + summary["rows_without_features"]
    assert summary["model_version"]
    assert summary["output"].endswith("/batch/predictions.parquet")


def test_serving_image_answers_inference(
    engine: Any, dag_runs: subprocess.CompletedProcess[str]
) -> None:
    assert dag_runs.returncode == 0
    served = engine.script("platform.sh", "serve", timeout=300)
    assert served.returncode == 0, served.stderr
    candidates = [1001, 1002, 1003, 1004, 1005]

    response = httpx.post(
        f"{ports(engine)['serving']}/inference",
        json={"request_id": "containers-test", "driver_ids": candidates},
        timeout=30,
    )

    assert response.status_code == 200, response.text
    body = response.json()
    assert body["best_driver_id"] in candidates
