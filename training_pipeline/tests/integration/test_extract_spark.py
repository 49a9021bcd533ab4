"""Training extraction on Feast's Spark offline store (`TRAIN_EXTRACT_ENGINE=feast`) writes the
training set the DuckDB offline store writes: same columns, same order, same bytes."""

from __future__ import annotations

from pathlib import Path

import pyarrow.parquet as pq
import pytest
from mlops_common.settings import reset_settings_cache
from training_pipeline.run_files import RunFiles

pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.spark]


def test_spark_offline_store_writes_the_duckdb_training_set(
    applied_repo: Path, run_steps, spark_session, monkeypatch: pytest.MonkeyPatch
) -> None:
    from feature_store.apply import apply_repo
    from feature_store.store import get_store

    monkeypatch.setenv("TRAIN_EXTRACT_ENGINE", "feast")  # the default joins without Feast
    reset_settings_cache()
    run_steps("duckdb", "extract")
    monkeypatch.setenv("FEAST_OFFLINE_STORE", "spark")
    reset_settings_cache()
    assert apply_repo(force=False), "the offline-store choice changes the definitions"
    assert type(get_store().get_feature_view("driver_stats").batch_source).__name__ == (
        "SparkSource"
    )
    run_steps("spark", "extract")

    duckdb_set, spark_set = RunFiles.of("duckdb").training_set, RunFiles.of("spark").training_set
    expected = pq.read_table(duckdb_set)
    actual = pq.read_table(spark_set)
    assert actual.schema == expected.schema
    assert actual.num_rows == expected.num_rows > 0
    assert actual.column("conv_rate").null_count > 0, "orders before a driver's first row"
    assert actual.equals(expected)
    assert spark_set.read_bytes() == duckdb_set.read_bytes()
    assert RunFiles.of("spark").features.read_bytes() == RunFiles.of("duckdb").features.read_bytes()
