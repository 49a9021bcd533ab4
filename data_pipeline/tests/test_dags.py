"""Both DAGs run end to end with `airflow dags test` in local mode (real CLIs, real Redis)."""

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
