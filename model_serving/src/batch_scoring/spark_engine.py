"""The `spark` batch engine: the point-in-time join, the champion and the output in Spark.

* Join (`BATCH_SPARK_JOIN`), the same rule as every engine (see `feature_store.point_in_time`):
  `asof` (default): per view, the request rows and the view's feature rows (read from the
  parquet the registry layout names) in one frame, ordered per join key by (event time,
  feature rows before requests, created), and each request takes the last feature row before
  it (`last(..., ignorenulls)` over the window), ttl checked after: one shuffle and sort of
  requests + feature rows. With the created cutoff, two inequalities: a range join ranked per
  request, as the DuckDB engine does. Hand-written because Spark has no ASOF join in its
  DataFrame API (pandas-on-Spark's `merge_asof` is an experimental wrapper over the same).
  `feast`: Feast's Spark offline store (`get_historical_features(...).to_spark_df()`, the
  cutoff as `filter_by_created_timestamp`): a range join over every feature row in ttl, then
  dedup joins; measured several times slower on 2 cores (README), kept as the reference.
  The request rows are read and checked on the driver by the exact rules of
  `batch.requests`, then handed to Spark.
* Score: the champion version as `mlflow.pyfunc.spark_udf`, applied in the executors.
* Write: Spark writes parquet datasets (the features hand-off, and the predictions partitioned
  by `request_date`), each into a staging directory renamed onto the target only after the
  job succeeded (`_SUCCESS` present), so a failed run never leaves partial output where the
  predict step or a reader looks; a re-run replaces the output with the same rows.

The datasets are directories at the paths the other engines write files to
(`features.parquet`, `predictions.parquet`); pyarrow and pandas read either form.
"""

from __future__ import annotations

import logging
import os
import shutil
import uuid
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd
from feature_store.layout import ViewSource
from feature_store.point_in_time import HAS_FEATURES, REQUEST_ROW, TIMESTAMP_COLUMN
from mlops_common.errors import UserError
from mlops_common.models import ScoringModel
from mlops_common.settings import get_mlflow_settings

from batch_scoring.requests import check_request_columns
from batch_scoring.settings import BatchSettings

if TYPE_CHECKING:
    from feast import FeatureService, FeatureStore
    from pyspark.sql import DataFrame


logger = logging.getLogger(__name__)

SUCCESS_MARKER = "_SUCCESS"
# The predictions dataset's partition column: the request's UTC date.
PARTITION_COLUMN = "request_date"
PREDICTION = "prediction"


def require_spark_offline_store(store: FeatureStore) -> None:
    """A UserError unless the store's offline store is Spark's (the join runs there)."""
    if getattr(store.config.offline_store, "type", None) != "spark":
        raise UserError(
            "BATCH_ENGINE=spark joins in Feast's Spark offline store: set "
            "FEAST_OFFLINE_STORE=spark as well (then run `model-serving feast-apply`)"
        )


def join_spark(
    requests: pd.DataFrame,
    store: FeatureStore,
    service: FeatureService,
    sources: list[ViewSource],
    settings: BatchSettings,
) -> DataFrame:
    """Point-in-time features of REQUESTS as a Spark DataFrame: the request columns, each
    feature typed as the registry declares it, `has_features`, and the request's row number
    (`REQUEST_ROW`, the request order). The join is `BATCH_SPARK_JOIN`'s."""
    check_request_columns(
        requests.columns, [feature.name for source in sources for feature in source.features]
    )
    if settings.spark_join == "feast":
        return _join_feast(requests, store, service, sources, settings)
    return _join_asof(requests, sources, settings)


def _finish(frame: DataFrame, requests: pd.DataFrame, sources: list[ViewSource]) -> DataFrame:
    """REQUEST_ROW, the request columns, typed features and `has_features`."""
    from pyspark.sql import functions as F  # noqa: N812 (PySpark's idiom)
    from pyspark.sql.pandas.types import from_arrow_type

    features = [feature for source in sources for feature in source.features]
    present = F.lit(True)
    for feature in features:
        present = present & F.col(feature.name).isNotNull()
    columns = [F.col(REQUEST_ROW)]
    columns += [F.col(name) for name in requests.columns]
    columns += [F.col(f.name).cast(from_arrow_type(f.arrow_type)).alias(f.name) for f in features]
    columns.append(present.alias(HAS_FEATURES))
    return frame.select(*columns)


def _join_asof(
    requests: pd.DataFrame, sources: list[ViewSource], settings: BatchSettings
) -> DataFrame:
    from feature_store.spark import get_spark
    from pyspark.sql import Window
    from pyspark.sql import functions as F  # noqa: N812 (PySpark's idiom)

    spark = get_spark()
    frame = spark.createDataFrame(requests.assign(**{REQUEST_ROW: range(len(requests))}))
    t = F.col(TIMESTAMP_COLUMN)
    if requests.empty:
        earliest_request = latest_request = pd.Timestamp(0, tz="UTC").to_pydatetime()
    else:
        earliest_request = requests[TIMESTAMP_COLUMN].min().to_pydatetime()
        latest_request = requests[TIMESTAMP_COLUMN].max().to_pydatetime()
    for source in sources:
        keys = list(source.join_keys.values())
        names = [feature.name for feature in source.features]
        created = (
            F.col(source.created_field).cast("timestamp")
            if source.created_field
            else F.lit(None).cast("timestamp")
        )
        rows = (
            spark.read.parquet(str(source.path))
            .select(
                *[F.col(src).alias(req) for src, req in source.join_keys.items()],
                F.col(source.timestamp_field).cast("timestamp").alias("__ts"),
                created.alias("__created"),
                *[F.col(f.source_column).alias(f.name) for f in source.features],
            )
            .where(F.col("__ts").isNotNull())
        )
        ttl = None if source.ttl is None else int(source.ttl.total_seconds() * 1_000_000)
        # Only rows some request can see: its time window (less ttl), its keys (as DuckDB's
        # query does); the bounds reach the parquet scan, the keys are a broadcast semi-join.
        rows = rows.where(F.col("__ts") <= F.lit(latest_request))
        if ttl is not None:
            rows = rows.where(F.col("__ts") >= F.lit(earliest_request - source.ttl))
        rows = rows.join(F.broadcast(frame.select(*keys).distinct()), on=keys, how="left_semi")
        if settings.created_cutoff and source.created_field:
            frame = _cutoff_join(frame, rows, keys, names, ttl)
            continue
        # One frame per key: feature rows (carrying their values) and requests (carrying
        # theirs), ordered by time; at equal times feature rows first (inclusive: a row at
        # exactly t is seen by t), among them the latest created last (a missing created
        # sorts first, it loses a tie, as in Feast's DESC order).
        marked_rows = rows.select(
            *keys,
            F.col("__ts").alias("__order_ts"),
            F.lit(0).alias("__is_request"),
            F.col("__created").alias("__order_created"),
            F.struct(F.col("__ts").alias("ts"), *names).alias("__found"),
        )
        marked_requests = frame.select(
            "*",
            t.alias("__order_ts"),
            F.lit(1).alias("__is_request"),
            F.lit(None).cast("timestamp").alias("__order_created"),
            F.lit(None).cast(marked_rows.schema["__found"].dataType).alias("__found"),
        )
        window = (
            Window.partitionBy(*keys)
            .orderBy(
                "__order_ts",
                "__is_request",
                F.col("__order_created").asc_nulls_first(),
            )
            .rowsBetween(Window.unboundedPreceding, Window.currentRow)
        )
        latest = F.last("__found", ignorenulls=True).over(window)
        joined = (
            marked_requests.unionByName(marked_rows, allowMissingColumns=True)
            .withColumn("__latest", latest)
            .where(F.col("__is_request") == 1)
        )
        fresh = F.col("__latest").isNotNull()
        if ttl is not None:
            fresh = fresh & (
                F.timestamp_micros(F.unix_micros(F.col("__latest.ts")) + F.lit(ttl)) >= t
            )
        frame = joined.select(
            *frame.columns,
            *[F.when(fresh, F.col(f"__latest.{name}")).alias(name) for name in names],
        )
    return _finish(frame, requests, sources)


def _cutoff_join(
    frame: DataFrame, rows: DataFrame, keys: list[str], names: list[str], ttl: int | None
) -> DataFrame:
    """Add the view's features to FRAME with the created cutoff: the rows with the same key,
    event time <= t <= event time + ttl and created <= t (a missing created never is),
    ranked per request by (event time, created) descending; the first one wins."""
    from pyspark.sql import Window
    from pyspark.sql import functions as F  # noqa: N812 (PySpark's idiom)

    requests = frame.select(REQUEST_ROW, *keys, F.col(TIMESTAMP_COLUMN).alias("__t"))
    on = [requests[key] == rows[key] for key in keys]
    on += [rows["__ts"] <= requests["__t"], rows["__created"] <= requests["__t"]]
    if ttl is not None:
        on.append(F.timestamp_micros(F.unix_micros(rows["__ts"]) + F.lit(ttl)) >= requests["__t"])
    rank = Window.partitionBy(REQUEST_ROW).orderBy(F.desc("__ts"), F.desc("__created"))
    matched = (
        requests.join(rows, on=on, how="inner")
        .select(REQUEST_ROW, "__ts", "__created", *[rows[name] for name in names])
        .withColumn("__rank", F.row_number().over(rank))
        .where(F.col("__rank") == 1)
        .select(REQUEST_ROW, *names)
    )
    return frame.join(matched, on=REQUEST_ROW, how="left")


def _join_feast(
    requests: pd.DataFrame,
    store: FeatureStore,
    service: FeatureService,
    sources: list[ViewSource],
    settings: BatchSettings,
) -> DataFrame:
    """Feast's Spark offline store: the reference join, in Spark."""
    from feature_store.spark import get_spark

    require_spark_offline_store(store)
    get_spark()  # the project's session (settings, clear errors); Feast takes the active one
    entity_df = requests.assign(**{REQUEST_ROW: range(len(requests))})
    job = store.get_historical_features(
        entity_df=entity_df, features=service, filter_by_created_timestamp=settings.created_cutoff
    )
    joined = job.to_spark_df()  # type: ignore[attr-defined]  # a SparkRetrievalJob
    # Feast's SQL keeps both rows of an exact (event time, created) tie: one row per request.
    return _finish(joined, requests, sources).dropDuplicates([REQUEST_ROW])


def write_dataset(frame: DataFrame, target: Path, partition_by: tuple[str, ...] = ()) -> Path:
    """Write FRAME as a parquet dataset at TARGET, atomically and idempotently.

    Spark writes a staging directory beside TARGET and marks it `_SUCCESS` when the job has
    committed; only then does the staging directory replace TARGET (file or directory, e.g. an
    earlier run's output) by renames. On any failure the staging directory is removed and
    TARGET is left as it was. (Spark's own committer writes in place; the staging rename is
    what makes the target appear whole or not at all.)
    """
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = target.with_name(f".{target.name}.staging-{uuid.uuid4().hex}")
    retired = target.with_name(f".{target.name}.old-{uuid.uuid4().hex}")
    try:
        writer = frame.write.mode("errorifexists")
        if partition_by:
            writer = writer.partitionBy(*partition_by)
        writer.parquet(str(staging))
        if not (staging / SUCCESS_MARKER).is_file():
            raise RuntimeError(f"Spark finished without {SUCCESS_MARKER} in {staging}")
        if target.exists():
            os.rename(target, retired)
        os.rename(staging, target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
        if retired.is_dir():
            shutil.rmtree(retired, ignore_errors=True)
        elif retired.exists():
            retired.unlink()
    return target


def is_complete(dataset: Path) -> bool:
    """DATASET is a directory Spark finished writing (its `_SUCCESS` marker is there)."""
    return dataset.is_dir() and (dataset / SUCCESS_MARKER).is_file()


def score_spark(features: Path, champion: ScoringModel, run_id: str, target: Path) -> Path:
    """Score the features dataset with CHAMPION as an `mlflow.pyfunc.spark_udf` and write the
    predictions dataset (partitioned by `request_date`) to TARGET; rows without features keep a
    null prediction."""
    import mlflow.pyfunc
    from feature_store.spark import get_spark
    from pyspark.sql import functions as F  # noqa: N812 (PySpark's idiom)

    if not is_complete(features):
        raise UserError(
            f"the features dataset {features} is incomplete (no {SUCCESS_MARKER}); re-run "
            "`model-serving extract`"
        )
    spark = get_spark()
    frame = spark.read.parquet(str(features))
    champion.require_features(frame.columns)
    mlflow.set_tracking_uri(get_mlflow_settings().resolved_tracking_uri)
    model = mlflow.pyfunc.spark_udf(
        spark, champion.model_id, result_type="double", env_manager="local"
    )
    # Rows without features are scored on zeros and their prediction nulled: a Python UDF runs
    # on every row whatever condition surrounds it, and the signature refuses nulls. float64
    # inputs, as the single-machine path gives the model (`predict.score`).
    inputs = [
        F.coalesce(F.col(name).cast("double"), F.lit(0.0)).alias(name) for name in champion.features
    ]
    scored = frame.withColumn(
        PREDICTION, F.when(F.col(HAS_FEATURES), model(*inputs)).otherwise(F.lit(None))
    )
    output = (
        scored.withColumn("model_name", F.lit(champion.name))
        .withColumn("model_version", F.lit(champion.version))
        .withColumn("run_id", F.lit(run_id))
        .withColumn(PARTITION_COLUMN, F.date_format(F.col(TIMESTAMP_COLUMN), "yyyy-MM-dd"))
        .repartition(PARTITION_COLUMN)
        .sortWithinPartitions(REQUEST_ROW)
        .drop(REQUEST_ROW)
    )
    write_dataset(output, target, partition_by=(PARTITION_COLUMN,))
    logger.info(
        "scored %s with %s version %s -> %s", features, champion.name, champion.version, target
    )
    return target


def dataset_counts(dataset: Path) -> tuple[int, int]:
    """(rows, rows with features) of a dataset Spark wrote."""
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    flags = pq.read_table(dataset, columns=[HAS_FEATURES]).column(HAS_FEATURES)
    return len(flags), int(pc.sum(flags).as_py() or 0)
