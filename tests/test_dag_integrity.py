"""Every DAG file imports cleanly in both task modes and builds the operators we expect."""

from __future__ import annotations

import json
import os
import subprocess
import tempfile
from functools import cache
from pathlib import Path
from typing import Any

import pytest
from mlops_common.settings import project_root

EXPECTED_DAGS = {
    "data_pipeline",
    "materialize",
    "training_pipeline",
    "batch_serving_pipeline",
    "monitoring",
    "label_dispatches",
    "maintain_datasets",
}
CLI_OF = {
    "data_pipeline": "data-pipeline",
    "training_pipeline": "training-pipeline",
    "model_serving": "model-serving",
    "monitoring_pipeline": "monitoring-pipeline",
}


@cache
def load(mode: str) -> dict[str, Any]:
    """The DAG inventory in MODE; a failure is cached too, so it costs one Airflow start."""
    try:
        return _load(mode)
    except AssertionError as error:
        return {"failure": str(error)}


def _load(mode: str) -> dict[str, Any]:
    airflow_python = project_root() / ".venv-airflow" / "bin" / "python"
    env = {**os.environ, "MLOPS_TASK_MODE": mode, "AIRFLOW__CORE__LOAD_EXAMPLES": "False"}
    with tempfile.TemporaryDirectory() as tmp:
        target = Path(tmp) / "inventory.json"
        script = Path(__file__).with_name("dag_inventory.py")
        result = subprocess.run(
            [str(airflow_python), str(script), str(target)],
            env=env,
            capture_output=True,
            text=True,
            check=False,
            timeout=300,
        )
        assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
        return dict(json.loads(target.read_text()))


@pytest.mark.parametrize("mode", ["local", "containers"])
def test_dag_files_import_without_errors(mode: str) -> None:
    inventory = load(mode)
    assert "failure" not in inventory, inventory.get("failure")
    assert inventory["errors"] == {}
    assert set(inventory["dags"]) >= EXPECTED_DAGS


@pytest.mark.parametrize("dag_id", sorted(EXPECTED_DAGS))
def test_dags_follow_house_rules(dag_id: str) -> None:
    dag = load("local")["dags"][dag_id]
    assert dag["catchup"] is False
    assert dag["tags"], "tag every DAG so the UI can filter it"
    assert dag["doc"], "the DAG docstring is its documentation"
    assert dag["start_date_tz"] in {"UTC", "Timezone('UTC')", "utc"}


@pytest.mark.parametrize("dag_id", sorted(EXPECTED_DAGS))
def test_local_mode_runs_pipeline_clis_from_the_project_environment(dag_id: str) -> None:
    dag = load("local")["dags"][dag_id]
    cli = CLI_OF[dag["pipeline"]]
    venv_bin = str(project_root() / ".venv" / "bin")
    for task_id, task in dag["tasks"].items():
        assert task["operator"] == "PipelineCommandOperator", task_id
        assert task["bash_command"].startswith(f"{venv_bin}/"), task_id
        assert f"/{cli} " in task["bash_command"], f"{task_id} does not call {cli}"
        assert "{{ run_id }}" in task["bash_command"], f"{task_id} is not keyed by run"
        assert task["retries"] >= 1, task_id


@pytest.mark.parametrize("dag_id", sorted(EXPECTED_DAGS))
def test_containers_mode_runs_the_same_commands_in_the_pipeline_image(dag_id: str) -> None:
    local = load("local")["dags"][dag_id]
    containers = load("containers")["dags"][dag_id]
    image = f"driver-ranking-{containers['pipeline'].replace('_', '-')}:latest"
    assert containers["tasks"].keys() == local["tasks"].keys()
    for task_id, task in containers["tasks"].items():
        assert task["operator"] == "DockerOperator", task_id
        assert task["image"] == image, task_id
        assert task["upstream"] == local["tasks"][task_id]["upstream"], task_id
        # Same arguments as the local command, minus the executable (the image's entry point).
        local_args = local["tasks"][task_id]["bash_command"].split(" ", 1)[1]
        assert " ".join(_quote(a) for a in task["command"]) == local_args, task_id
        assert any("/artifacts" in m for m in task["mounts"]), task_id
        assert task["environment"]["MLOPS_ARTIFACT_ROOT"].startswith("/artifacts"), task_id


# Tasks that must not be retried, with the reason (their DAG docstring says it too). None
# today: every task is safe to retry, also after a SIGKILL mid-write (the test_killed_* tests
# of each pipeline); a task failing on bad input exits 2 and fails without retrying instead.
NOT_RETRIED: dict[str, str] = {}


@pytest.mark.parametrize("mode", ["local", "containers"])
def test_tasks_retry_with_exponential_backoff_unless_unsafe(mode: str) -> None:
    for dag_id, dag in load(mode)["dags"].items():
        for task_id, task in dag["tasks"].items():
            name = f"{dag_id}.{task_id}"
            if name in NOT_RETRIED:
                assert task["retries"] == 0, name
                continue
            assert task["retries"] >= 1, name
            assert task["retry_exponential_backoff"] >= 2, f"{name}: no exponential backoff"
            assert task["max_retry_delay"], f"{name}: unbounded backoff"
            assert task["max_retry_delay"] >= task["retry_delay"], name


def _quote(arg: str) -> str:
    import shlex

    return shlex.quote(arg)


def test_the_loop_is_wired_by_assets() -> None:
    """data_pipeline (daily) -> orders -> training <- drift <- monitoring (hourly);
    training's publish -> champion -> batch serving."""
    dags = load("local")["dags"]
    assert dags["data_pipeline"]["timetable"] == "CronTriggerTimetable"
    assert "0 0 * * *" in dags["data_pipeline"]["schedule"] or "@daily" in str(
        dags["data_pipeline"]["schedule"]
    )
    assert dags["data_pipeline"]["tasks"]["validate"]["outlets"] == ["driver_stats", "orders"]
    assert dags["training_pipeline"]["asset_condition"] == ["AssetAny", "drift", "orders"]
    # publish emits the champion event only when register moved that alias (else it is
    # skipped); publish_challenger likewise for the challenger (PROMOTION_MODE=shadow).
    publishers = {"publish": "champion", "publish_challenger": "challenger"}
    for task_id, asset in publishers.items():
        publish = dags["training_pipeline"]["tasks"][task_id]
        assert publish["outlets"] == [asset]
        assert publish["upstream"] == ["register"]
        assert 99 in (publish["skip_on_exit_code"] or [])
    assert all(
        not task["outlets"]
        for task_id, task in dags["training_pipeline"]["tasks"].items()
        if task_id not in publishers
    )
    assert dags["batch_serving_pipeline"]["asset_condition"] == ["AssetAll", "champion"]
    signal = dags["monitoring"]["tasks"]["signal_drift"]
    assert signal["outlets"] == ["drift"]
    # After the judgement: the alarm reads its decision (no retraining while a challenger is
    # in shadow or just promoted).
    assert signal["upstream"] == ["judge_challenger"]
    assert dags["monitoring"]["tasks"]["judge_challenger"]["upstream"] == ["monitor"]
    assert 99 in (signal["skip_on_exit_code"] or [])
    # The live judgement's promotion emits the champion event too (batch scoring follows).
    promoted = dags["monitoring"]["tasks"]["signal_champion"]
    assert promoted["outlets"] == ["champion"]
    assert promoted["upstream"] == ["judge_challenger"]
    assert 99 in (promoted["skip_on_exit_code"] or [])
