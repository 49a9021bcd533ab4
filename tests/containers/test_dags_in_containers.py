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
from mlops_platform.processes import wait_for

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


BENTO_IMAGE = "driver-ranking-bento:latest"


def test_bento_image_answers_inference(
    engine: Any, dag_runs: subprocess.CompletedProcess[str]
) -> None:
    """The online service's Bento containerized by BentoML on the project's base image
    (`bento.sh containerize`, run by ci.sh), served by the image's own entry point."""
    assert dag_runs.returncode == 0
    if engine.podman("image", "exists", BENTO_IMAGE).returncode:
        pytest.skip(f"{BENTO_IMAGE} not built: deployment/containers/bento.sh containerize")
    name = "driver-ranking-bento-test"
    engine.podman("rm", "-f", name)
    # The task images' uid owns the artifact volume (the prediction log writes there);
    # BentoML's home then on /tmp, as in the k8s deployment.
    started = engine.podman(
        "run", "-d", "--name", name, "--network", "driver-ranking", "-p", "127.0.0.1::3000",
        "--user", "10001:10001", "-v", "driver-ranking-artifacts:/artifacts",
        "-e", "BENTOML_HOME=/tmp/bentoml", "-e", "SERVING_HOST=0.0.0.0", "-e", "SERVING_PORT=3000",
        "-e", "REDIS_HOST=redis", "-e", "REDIS_PORT=6379",
        "-e", "MLFLOW_TRACKING_URI=http://mlflow:5000", "-e", "MLOPS_DATA_DIR=/artifacts/data",
        "-e", "MLOPS_ARTIFACT_ROOT=/artifacts/runs", "-e", "MLOPS_STATE_DIR=/tmp/state",
        "-e", "FEAST_REPO_PATH=/home/bentoml/bento/src/data_pipeline/feature_repo", BENTO_IMAGE,
    )  # fmt: skip
    assert started.returncode == 0, started.stderr
    try:
        url = "http://" + engine.podman("port", name, "3000").stdout.split()[0]

        def ready() -> bool:
            try:
                return httpx.get(f"{url}/readyz", timeout=2).status_code == 200
            except httpx.HTTPError:
                return False

        wait_for(ready, timeout=180, interval=1, timeout_error=lambda: AssertionError(
            engine.podman("logs", "--tail", "40", name).stdout
        ))  # fmt: skip
        response = httpx.post(
            f"{url}/inference",
            json={"request_id": "bento-image", "driver_ids": [1001, 1002, 1003]},
            timeout=30,
        )
        assert response.status_code == 200, response.text
        assert response.json()["best_driver_id"] in (1001, 1002, 1003)
    finally:
        engine.podman("rm", "-f", name)
