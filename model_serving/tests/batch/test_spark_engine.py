"""The spark batch engine against the DuckDB engine and the single-machine predict path: the
same rows on the edge cases and on random data (with and without the created cutoff), the
same predictions to 1e-9 through `mlflow.pyfunc.spark_udf`, a partitioned output written
atomically and idempotently, and nothing partial left by a failed run."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from batch_scoring.extract import extract_features
from batch_scoring.predict import predict_batch
from batch_scoring.run_files import predictions_path, summary_path
from batch_scoring.settings import BatchSettings
from batch_scoring.spark_engine import PARTITION_COLUMN, SUCCESS_MARKER, write_dataset
from feature_store.point_in_time import REQUEST_ROW
from mlops_testing import ChampionModel

pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.spark]

FEATURES = ["conv_rate", "acc_rate", "avg_daily_trips"]


@pytest.fixture
def spark_stats(spark_env, feature_repo: Path) -> Path:
    """The edge-case stats file with microsecond times, as the data pipeline writes them
    (Spark reads no nanosecond parquet timestamps)."""
    pq.write_table(pq.read_table(feature_repo), feature_repo, coerce_timestamps="us")
    return feature_repo


def spark_rows(dataset: Path, like: pa.Table) -> pa.Table:
    """A Spark-written features dataset in request order, typed like LIKE."""
    table = pq.read_table(dataset)
    table = table.take(pa.compute.sort_indices(table, [(REQUEST_ROW, "ascending")]))
    return table.drop_columns([REQUEST_ROW]).select(like.column_names).cast(like.schema)


def assert_spark_equals_duckdb(run: str, cutoff: bool, join: str) -> pa.Table:
    settings = BatchSettings(created_cutoff=cutoff, spark_join=join)
    duckdb = pq.read_table(extract_features(f"{run}-duckdb", engine="duckdb", settings=settings))
    spark_path = extract_features(f"{run}-spark", engine="spark", settings=settings)
    assert (spark_path / SUCCESS_MARKER).is_file()
    spark = spark_rows(spark_path, duckdb)
    assert spark.num_rows == duckdb.num_rows
    assert spark.equals(duckdb), (spark.to_pandas(), duckdb.to_pandas())
    return duckdb


JOINS = pytest.mark.parametrize("join", ["asof", "feast"])
CUTOFFS = pytest.mark.parametrize("cutoff", [False, True], ids=["latest", "created-cutoff"])


@JOINS
@CUTOFFS
def test_spark_join_equals_duckdb_on_edge_rows(
    spark_stats: Path, requests_file: Path, requests_frame: pd.DataFrame, cutoff: bool, join: str
) -> None:
    last_1002 = pd.Timestamp("2026-11-01T08:00:00Z")  # driver 1002's only row (conftest)
    ttl = pd.Timedelta(days=2)
    extra = pd.DataFrame(
        {
            "driver_id": [1002, 1002],
            "event_timestamp": [last_1002 + ttl, last_1002 + ttl + pd.Timedelta(1, "us")],
        }
    )
    requests = pd.concat([requests_frame, extra], ignore_index=True)
    requests.to_parquet(requests_file, index=False)
    joined = assert_spark_equals_duckdb("edges", cutoff, join).to_pandas()
    has = joined.has_features.tolist()
    assert len(joined) == len(requests)
    assert has[0] is False  # before the driver's first row
    assert has[1] is (not cutoff)  # exactly on a row (created 5 min later: unknown then)
    assert joined.iloc[4].equals(joined.iloc[5])  # duplicate request rows
    assert has[6] is True  # exactly ttl after the last row
    assert has[10] is False  # unknown driver
    assert has[-2] is True  # exactly ttl after the driver's last row
    assert has[-1] is False  # ttl + 1 microsecond after it


@JOINS
@CUTOFFS
def test_spark_join_equals_duckdb_on_random_data(
    spark_env,
    project_env: Path,
    cutoff: bool,
    join: str,
    random_stats: Callable[[np.random.Generator, int], pd.DataFrame],
) -> None:
    from data_pipeline.settings import get_data_settings
    from feature_store.apply import apply_repo

    rng = np.random.default_rng(11)
    n, m = 5000, 3000
    start = pd.Timestamp("2026-10-01", tz="UTC")
    stats = random_stats(rng, n)
    # created up to 2 h after the event (some after the requests that see the row)
    stats["created"] = stats.event_timestamp + pd.to_timedelta(rng.permutation(n) * 1.44, "s")
    settings = get_data_settings()
    settings.driver_stats_path.parent.mkdir(parents=True, exist_ok=True)
    stats.sample(frac=1.0, random_state=1).to_parquet(
        settings.driver_stats_path, index=False, coerce_timestamps="us"
    )
    requests = pd.DataFrame(
        {
            "driver_id": rng.integers(1000, 1043, m),  # a few unknown drivers
            "event_timestamp": start
            + pd.to_timedelta(rng.integers(-3600, 3600 * 24 * 12, m) * 1_000_000 + 7, "us"),
        }
    )
    requests.to_parquet(settings.batch_requests_path, index=False)
    apply_repo()
    joined = assert_spark_equals_duckdb("random", cutoff, join)
    assert 0 < pa.compute.sum(joined.column("has_features")).as_py() < m


def test_spark_predictions_equal_the_single_machine_path(
    spark_stats: Path, requests_file: Path, champion: ChampionModel
) -> None:
    extract_features("single", engine="duckdb")
    expected = pq.read_table(predict_batch("single")).to_pandas()
    extract_features("spark", engine="spark")
    output = predict_batch("spark")
    assert output == predictions_path("spark")
    assert (output / SUCCESS_MARKER).is_file()
    days = set(expected.event_timestamp.dt.strftime("%Y-%m-%d"))
    assert {p.name for p in output.glob(f"{PARTITION_COLUMN}=*")} == {
        f"{PARTITION_COLUMN}={day}" for day in days
    }

    def ordered(frame: pd.DataFrame) -> pd.DataFrame:
        frame = frame.drop(columns=["run_id", PARTITION_COLUMN], errors="ignore")
        frame = frame.astype({c: str for c in ("model_name", "model_version")})
        keys = ["driver_id", "event_timestamp", "prediction"]
        return frame.sort_values(keys, na_position="first", ignore_index=True)

    actual = pq.read_table(output).to_pandas()
    assert len(actual) == len(expected)
    assert set(actual[PARTITION_COLUMN].astype(str)) == days
    a, e = ordered(actual), ordered(expected)
    assert list(a.columns) == list(e.columns)
    assert (a.has_features == e.has_features).all()
    assert (~a.has_features).sum() > 0
    assert a.prediction.isna().equals(~a.has_features)
    np.testing.assert_allclose(a.prediction, e.prediction, rtol=0, atol=1e-9)
    pd.testing.assert_frame_equal(
        a.drop(columns=["prediction"]),
        e.drop(columns=["prediction"]),
        check_dtype=False,
    )
    summary = pd.read_json(summary_path("spark"), typ="series")
    assert summary["engine"] == "spark"
    assert summary["rows_in"] == len(expected)
    assert summary["rows_without_features"] == int((~e.has_features).sum())

    # A re-run replaces the dataset with the same rows (no duplicated files, no leftovers).
    predict_batch("spark")
    again = ordered(pq.read_table(output).to_pandas())
    pd.testing.assert_frame_equal(again, a)
    assert [p.name for p in output.parent.iterdir() if p.name.startswith(".")] == []


def test_a_failed_spark_write_leaves_no_partial_output(spark_session, tmp_path: Path) -> None:
    from pyspark.sql import functions as F  # noqa: N812
    from pyspark.sql.types import LongType

    target = tmp_path / "batch" / "predictions.parquet"
    good = spark_session.range(100).withColumn("day", F.col("id") % 3)
    write_dataset(good, target, partition_by=("day",))
    before = sorted(str(p.relative_to(target)) for p in target.rglob("*"))

    @F.udf(LongType())
    def fail_late(value: int) -> int:
        if value == 973:
            raise ValueError("injected failure")
        return value

    # Several tasks: some finish (and write their files) before the failing one.
    failing = spark_session.range(0, 1000, numPartitions=8).withColumn("id", fail_late("id"))
    with pytest.raises(Exception, match="injected failure"):
        write_dataset(failing.withColumn("day", F.col("id") % 3), target, partition_by=("day",))
    assert sorted(str(p.relative_to(target)) for p in target.rglob("*")) == before
    assert pq.read_table(target).num_rows == 100, "the earlier output is intact"
    assert [p.name for p in target.parent.iterdir()] == ["predictions.parquet"], "no staging"

    # A features hand-off without its marker is refused by predict, never read.
    from batch_scoring.spark_engine import is_complete

    (target / SUCCESS_MARKER).unlink()
    assert not is_complete(target)
