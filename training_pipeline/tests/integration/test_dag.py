"""`airflow dags test training_pipeline` in local mode, on the generator's default data: the
first run registers version 1 as champion; a run that cannot pass the gates leaves it there."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime
from pathlib import Path

import mlflow
import pytest
from mlops_common.files import read_json
from mlops_testing import DagsTest, RedisServer

pytestmark = [pytest.mark.integration, pytest.mark.slow]

END_TIME = datetime(2026, 11, 1, tzinfo=UTC)


def run_dirs(project_env: Path) -> set[Path]:
    return set((project_env / "artifacts" / "training_pipeline").glob("*"))


def champion_events(dags_test: DagsTest) -> int:
    """How many `champion` asset events the `airflow dags test` database holds."""
    with sqlite3.connect(dags_test.home / "airflow.db") as db:
        (count,) = db.execute(
            "SELECT count(*) FROM asset_event JOIN asset ON asset.id = asset_event.asset_id "
            "WHERE asset.name = 'champion'"
        ).fetchone()
    return int(count)


def test_dag_registers_a_champion_and_keeps_it_when_the_gates_fail(
    project_env: Path,
    redis_env: RedisServer,
    model_name: str,
    airflow_dags_test: DagsTest,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from data_pipeline.generate import generate

    summary = read_json(generate(end_time=END_TIME).summary)  # default sizes and seed
    monkeypatch.setenv("MLOPS_TASK_MODE", "local")
    monkeypatch.setenv("MLOPS_TASK_RETRY_DELAY_SECONDS", "0")
    client = mlflow.MlflowClient()

    events = champion_events(airflow_dags_test)  # the session's database: earlier tests too
    result = airflow_dags_test("training_pipeline")
    assert result.returncode == 0, (result.stdout + result.stderr)[-5000:]
    assert client.get_model_version_by_alias(model_name, "champion").version == "1"
    assert champion_events(airflow_dags_test) == events + 1  # publish emitted it
    (first,) = run_dirs(project_env)
    evaluation = read_json(first / "evaluation.json")
    # The generator's true probabilities reach this AUC; the model should come close.
    assert evaluation["model"]["roc_auc"] > 0.7
    assert evaluation["model"]["roc_auc"] > summary["true_probability_auc"] - 0.03
    print(  # the figures the README quotes, visible with -s
        f"true-probability AUC {summary['true_probability_auc']}, latest-value AUC "
        f"{summary['latest_value_auc']}, model test AUC {evaluation['model']['roc_auc']:.4f}"
    )

    # The same data again: a sound model, not registered, and a green run.
    result = airflow_dags_test("training_pipeline")
    assert result.returncode == 0, (result.stdout + result.stderr)[-5000:]
    (again,) = run_dirs(project_env) - {first}
    gates = read_json(again / "gates.json")
    assert gates["promoted"] is False
    assert "same data as champion v1" in gates["decision"]
    assert len(client.search_model_versions(f"name = '{model_name}'")) == 1
    assert champion_events(airflow_dags_test) == events + 1  # publish skipped: no new event

    # Huge regularisation: constant predictions, which cannot beat the baseline.
    monkeypatch.setenv("TRAIN_C", "1e-6")
    monkeypatch.setenv("MLOPS_TASK_RETRIES", "0")  # a gate refusal is not transient
    result = airflow_dags_test("training_pipeline")
    assert result.returncode != 0
    (second,) = run_dirs(project_env) - {first, again}
    gates = read_json(second / "gates.json")
    assert gates["passed"] is False
    assert {g["name"] for g in gates["gates"] if not g["passed"]} >= {"beats_baseline"}
    assert client.get_model_version_by_alias(model_name, "champion").version == "1"
    assert len(client.search_model_versions(f"name = '{model_name}'")) == 1


@pytest.mark.spark
def test_dag_trains_on_the_spark_offline_store(
    project_env: Path,
    redis_env: RedisServer,
    model_name: str,
    airflow_dags_test: DagsTest,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """FEAST_OFFLINE_STORE=spark and TRAIN_EXTRACT_ENGINE=feast, the DAG unchanged: extraction
    runs in Feast's Spark offline store and the run registers a champion."""
    from data_pipeline.generate import generate

    generate(end_time=END_TIME)  # default sizes: the gates need them
    monkeypatch.setenv("FEAST_OFFLINE_STORE", "spark")
    monkeypatch.setenv("TRAIN_EXTRACT_ENGINE", "feast")  # the default joins without Feast
    monkeypatch.setenv("MLOPS_TASK_MODE", "local")
    monkeypatch.setenv("MLOPS_TASK_RETRIES", "0")

    result = airflow_dags_test("training_pipeline")
    assert result.returncode == 0, (result.stdout + result.stderr)[-5000:]
    assert mlflow.MlflowClient().get_model_version_by_alias(model_name, "champion").version == "1"
    (run,) = run_dirs(project_env)
    assert read_json(run / "evaluation.json")["model"]["roc_auc"] > 0.6
