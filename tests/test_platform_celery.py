"""The local platform with the CeleryExecutor for real: `mlops-platform up` with
AIRFLOW_EXECUTOR=celery starts two Celery workers under the supervisor, a scheduler run of two
DAGs spreads their tasks over both workers (the hostnames recorded in the task instances, read
through the REST API), and `status`/`down` handle the workers."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from mlops_testing.platform import local_platform
from mlops_testing.platform import platform_client as _client
from mlops_testing.platform import platform_command as run

pytestmark = [pytest.mark.slow, pytest.mark.integration]

WORKERS = {f"worker1@{socket.gethostname()}", f"worker2@{socket.gethostname()}"}


@pytest.fixture(scope="module")
def celery_env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    with local_platform(
        tmp_path_factory.mktemp("platform-celery"),
        # One slot per worker: two tasks queued together must go to different workers.
        AIRFLOW_EXECUTOR="celery",
        AIRFLOW_CELERY_WORKERS="2",
        AIRFLOW_CELERY_WORKER_CONCURRENCY="1",
        MLOPS_TASK_RETRIES="0",
    ) as env:
        yield env


def test_two_dags_run_on_both_celery_workers(celery_env: dict[str, str]) -> None:
    up = run(celery_env, "up")
    assert up.returncode == 0, up.stdout + up.stderr
    assert "airflow-celery-worker-1" in up.stdout
    assert "airflow-celery-worker-2" in up.stdout

    status = run(celery_env, "status")
    assert status.returncode == 0, status.stdout
    assert "airflow-celery-worker-2" in status.stdout
    assert "UNHEALTHY" not in status.stdout

    client = _client(celery_env)
    try:
        for dag_id in ("data_pipeline", "materialize"):
            client.wait_for_dag(dag_id, timeout=180)
            client.unpause(dag_id)
        # First a batch to materialize, then both DAGs at once.
        first = client.trigger("data_pipeline")
        assert client.wait_for_run("data_pipeline", first, timeout=600).state == "success"
        runs = [(dag_id, client.trigger(dag_id)) for dag_id in ("materialize", "data_pipeline")]
        for dag_id, run_id in runs:
            result = client.wait_for_run(dag_id, run_id, timeout=600)
            assert result.state == "success", result.tasks
        hostnames: dict[str, set[str]] = {}
        for dag_id, run_id in [("data_pipeline", first), *runs]:
            payload = client._request("GET", f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances")
            for task in payload["task_instances"]:
                hostnames.setdefault(task["hostname"], set()).add(f"{dag_id}.{task['task_id']}")
    finally:
        client.close()
    # Every task ran on one of the two workers, and both workers ran tasks.
    assert set(hostnames) == WORKERS, hostnames
    for i in (1, 2):
        log = Path(celery_env["MLOPS_STATE_DIR"]) / "logs" / f"airflow-celery-worker-{i}.log"
        assert log.read_text(), f"worker {i} logged nothing"

    # The broker is on the platform's Redis, DB 1; the feature keys stay in DB 0.
    broker = redis.Redis(port=int(celery_env["REDIS_PORT"]), db=1)
    assert broker.dbsize() > 0
    assert not [k for k in broker.scan_iter(count=1000) if b"driver" in k]

    down = run(celery_env, "down")
    assert down.returncode == 0
    assert run(celery_env, "status").returncode == 3
