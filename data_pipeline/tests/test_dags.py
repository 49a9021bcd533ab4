"""The DAGs run end to end with `airflow dags test` in local mode (real CLIs, real Redis)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def test_data_pipeline_then_materialize_dags(data_env: Path, redis_env, airflow_dags_test) -> None:
    from data_pipeline.settings import get_data_settings
    from feature_store.store import get_store

    pipeline = airflow_dags_test("data_pipeline")
    assert pipeline.returncode == 0, (pipeline.stdout[-3000:], pipeline.stderr[-3000:])
    stats = pd.read_parquet(get_data_settings().driver_stats_path)
    assert stats.driver_id.nunique() == 60
    view = get_store().get_feature_view("driver_stats")
    assert len(view.materialization_intervals) == 1
    assert redis_env.client().dbsize() > 0

    hourly = airflow_dags_test("materialize")
    assert hourly.returncode == 0, (hourly.stdout[-3000:], hourly.stderr[-3000:])
    view = get_store().get_feature_view("driver_stats")
    assert len(view.materialization_intervals) >= 1


def test_maintain_datasets_dag_compacts_a_closed_hour(data_env: Path, airflow_dags_test) -> None:
    from datetime import UTC, datetime, timedelta

    import pyarrow as pa
    import pyarrow.parquet as pq
    from mlops_common.paths import outcomes_dir
    from prediction_log.outcomes import OUTCOME_SCHEMA, write_outcomes

    from mlops_common import partitions

    hour = partitions.hour_floor(datetime.now(UTC)) - timedelta(hours=3)
    for minute in range(3):
        at = hour + timedelta(minutes=minute)
        write_outcomes(pa.table({"request_id": [f"r{minute}"], "driver_id": [1001],
                                 "outcome_timestamp": [at], "trip_completed": [1]},
                                schema=OUTCOME_SCHEMA), outcomes_dir())  # fmt: skip
    result = airflow_dags_test("maintain_datasets")
    assert result.returncode == 0, (result.stdout[-3000:], result.stderr[-3000:])
    files = partitions.dataset_files(outcomes_dir())
    assert len(files) == 1
    assert pq.read_table(files[0]).num_rows == 3
