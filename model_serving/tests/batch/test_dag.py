"""The batch_serving_pipeline DAG run for real (`airflow dags test`, local mode): generated
demo data, a registered champion, three tasks, one output per run."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import pyarrow.parquet as pq
import pytest
from mlops_common.files import read_json
from mlops_common.settings import get_path_settings, reset_settings_cache
from mlops_testing import ChampionModel, DagsTest, MlflowServer, register_tiny_champion

if TYPE_CHECKING:
    import pandas as pd
    from data_pipeline.generate import GeneratedData

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def _run_batch_dag(
    mlflow_env: MlflowServer,
    airflow_dags_test: DagsTest,
    monkeypatch: pytest.MonkeyPatch,
    **settings: str,
) -> tuple[GeneratedData, ChampionModel, Path]:
    """Small generated data, a tiny champion of its own name, SETTINGS in the environment,
    then `airflow dags test batch_serving_pipeline`: the data, the champion and the output."""
    from data_pipeline.generate import generate

    name = f"driver_ranking_{uuid.uuid4().hex[:8]}"
    monkeypatch.setenv("MLFLOW_MODEL_NAME", name)
    for key, value in settings.items():
        monkeypatch.setenv(key, value)
    reset_settings_cache()
    data = generate(
        n_drivers=20,
        days=3,
        n_orders=10,
        n_batch_requests=300,
        end_time=datetime(2026, 11, 1, tzinfo=UTC),
    )
    champion = register_tiny_champion(mlflow_env.uri, name)
    result = airflow_dags_test("batch_serving_pipeline")
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    [output] = (get_path_settings().artifact_root / "model_serving").glob(
        "*/batch/predictions.parquet"
    )
    return data, champion, output


def assert_logged_once(table: pd.DataFrame) -> None:
    """Every row of the batch output TABLE is in the prediction log, in the online log's
    shape, once."""
    from mlops_common.paths import feature_log_dir, scores_log_dir
    from prediction_log.reader import read_feature_log, read_predictions

    logged = read_predictions(scores_log_dir()).to_pandas()
    features = read_feature_log(feature_log_dir())
    assert features is not None
    assert len(logged) == features.num_rows == len(table)
    assert set(logged.source) == {"batch"}
    assert logged.chosen.sum() == table.has_features.sum()
    assert sorted(logged.score.dropna()) == pytest.approx(sorted(table.prediction.dropna()))


def test_dag_writes_predictions_for_the_demo_requests(
    project_env: Path,
    mlflow_env: MlflowServer,
    airflow_dags_test: DagsTest,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    data, champion, output = _run_batch_dag(mlflow_env, airflow_dags_test, monkeypatch)
    table = pq.read_table(output).to_pandas()
    assert len(table) == pq.read_metadata(data.batch_requests).num_rows == 300
    assert set(table.model_version) == {champion.version}
    assert table.prediction.notna().sum() == table.has_features.sum() > 0
    summary = read_json(output.with_name("summary.json"))
    assert summary["rows_in"] == 300
    assert summary["run_id"] == table.run_id[0]
    assert summary["engine"] == "sorted"

    assert_logged_once(table)

    # Trigger params (DAG conf): another request file, in csv, and the DuckDB engine.
    csv = project_env / "requests.csv"
    table.head(40)[["driver_id", "event_timestamp"]].to_csv(csv, index=False)
    result = airflow_dags_test(
        "batch_serving_pipeline", conf={"requests_path": str(csv), "engine": "duckdb"}
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    summaries = [
        read_json(path)
        for path in (get_path_settings().artifact_root / "model_serving").glob(
            "*/batch/summary.json"
        )
    ]
    [from_csv] = [s for s in summaries if s["requests_path"] == str(csv)]
    assert from_csv["engine"] == "duckdb"
    assert from_csv["rows_in"] == 40


@pytest.mark.spark
def test_dag_scores_on_spark_by_settings_alone(
    project_env: Path,
    mlflow_env: MlflowServer,
    airflow_dags_test: DagsTest,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """BATCH_ENGINE=spark and FEAST_OFFLINE_STORE=spark, the DAG unchanged: each task runs its
    own local Spark session; the output is the partitioned dataset."""
    _, champion, output = _run_batch_dag(
        mlflow_env,
        airflow_dags_test,
        monkeypatch,
        BATCH_ENGINE="spark",
        FEAST_OFFLINE_STORE="spark",
    )
    assert (output / "_SUCCESS").is_file()
    assert list(output.glob("request_date=*/*.parquet"))
    table = pq.read_table(output).to_pandas()
    assert len(table) == 300
    assert set(table.model_version) == {champion.version}
    assert table.prediction.notna().sum() == table.has_features.sum() > 0
    summary = read_json(output.with_name("summary.json"))
    assert summary["engine"] == "spark"
    assert summary["rows_in"] == 300
    assert_logged_once(table)  # Feast's Spark offline store cannot write the log: ours does
