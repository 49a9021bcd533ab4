"""Templates shared by every DAG render the same way for scheduled and API-triggered runs."""

from __future__ import annotations

import os
import subprocess
from datetime import UTC, datetime
from types import SimpleNamespace

import jinja2
import pytest
from mlops_airflow.orchestration import RUN_TIME
from mlops_common.settings import project_root

# Airflow renders task templates with StrictUndefined: a missing name is an error, not "".
ENV = jinja2.Environment(undefined=jinja2.StrictUndefined)
DUE = datetime(2026, 3, 4, 5, 0, tzinfo=UTC)


def test_run_time_is_the_logical_date_of_a_scheduled_run() -> None:
    logical = datetime(2026, 3, 4, 4, 0, tzinfo=UTC)
    rendered = ENV.from_string(RUN_TIME).render(
        logical_date=logical, dag_run=SimpleNamespace(run_after=DUE)
    )
    assert rendered == "2026-03-04T04:00:00+00:00"


@pytest.mark.parametrize("context", [{}, {"logical_date": None}], ids=["absent", "null"])
def test_run_time_falls_back_to_run_after_without_a_logical_date(context: dict) -> None:
    rendered = ENV.from_string(RUN_TIME).render(**context, dag_run=SimpleNamespace(run_after=DUE))
    assert rendered == "2026-03-04T05:00:00+00:00"


QUOTING = """
from mlops_airflow.orchestration import pipeline_task
try:
    pipeline_task("model_serving", "t", ["x", "{{ params.p or '' }}"])
    print("ACCEPTED")
except ValueError as error:
    print("REFUSED", error)
"""


def test_single_quotes_in_a_template_argument_are_refused_at_parse_time() -> None:
    # DAG parsing happens in Airflow's environment, not in this one.
    result = subprocess.run(
        [str(project_root() / ".venv-airflow" / "bin" / "python"), "-c", QUOTING],
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
        env={**os.environ, "MLOPS_TASK_MODE": "local"},
    )
    output = result.stdout[-2000:] + result.stderr[-2000:]
    assert "REFUSED" in result.stdout, output
    assert "double quotes" in result.stdout, output


SECRETS = """
import json
from mlops_airflow.orchestration import pipeline_task
task = pipeline_task("model_serving", "t", ["batch-predict"])
# DockerOperator keeps it out of its template fields and the UI; no public accessor.
print(json.dumps({"public": task.environment, "private": task._private_environment}))
"""


def _docker_task_environments(extra: dict[str, str]) -> dict[str, dict[str, str]]:
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("MLOPS_TASK_", "REDIS_", "MLFLOW_"))
    }
    result = subprocess.run(
        [str(project_root() / ".venv-airflow" / "bin" / "python"), "-c", SECRETS],
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
        env={**env, "MLOPS_TASK_MODE": "containers", **extra},
    )
    assert result.returncode == 0, result.stderr[-2000:]
    import json

    parsed: dict[str, dict[str, str]] = json.loads(result.stdout.strip().splitlines()[-1])
    return parsed


def test_task_container_credentials_travel_in_the_private_environment_only() -> None:
    found = _docker_task_environments(
        {
            "MLOPS_TASK_CONTAINER_REDIS_PASSWORD": "redis-secret",
            "MLOPS_TASK_CONTAINER_MLFLOW_USERNAME": "pipelines",
            "MLOPS_TASK_CONTAINER_MLFLOW_PASSWORD": "mlflow-secret",
        }
    )
    assert found["private"] == {
        "REDIS_PASSWORD": "redis-secret",
        "MLFLOW_TRACKING_USERNAME": "pipelines",
        "MLFLOW_TRACKING_PASSWORD": "mlflow-secret",
    }
    assert "redis-secret" not in str(found["public"])
    assert "mlflow-secret" not in str(found["public"])


def test_unset_or_empty_credentials_are_not_passed_to_task_containers() -> None:
    found = _docker_task_environments({"MLOPS_TASK_CONTAINER_REDIS_PASSWORD": ""})
    assert found["private"] == {}
