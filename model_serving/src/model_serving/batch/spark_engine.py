"""The `spark` batch engine: the point-in-time join, the champion and the output in Spark.

* Join: Feast's Spark offline store (`get_historical_features(...).to_spark_df()`), the same
  rule as every engine (see `point_in_time`), with the created cutoff as Feast's
  `filter_by_created_timestamp`. The request rows are read and checked on the driver by the
  exact rules of `batch.requests`, then handed to Spark. (Measured against a hand-written
  Spark ASOF join: see the README's Spark section for why Feast's join is the one used.)
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
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd
from feature_store.layout import ViewSource
from mlops_common.errors import UserError
from mlops_common.settings import get_mlflow_settings

from model_serving.batch.requests import REQUEST_ROW, TIMESTAMP_COLUMN, check_request_columns
from model_serving.batch.run_files import HAS_FEATURES
from model_serving.settings import BatchSettings

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
    (`REQUEST_ROW`, the request order)."""
    from feature_store.spark import get_spark
    from pyspark.sql import functions as F  # noqa: N812 (PySpark's idiom)
    from pyspark.sql.pandas.types import from_arrow_type

    require_spark_offline_store(store)
    check_request_columns(
        requests.columns, [feature.name for source in sources for feature in source.features]
    )
    get_spark()  # the project's session (settings, clear errors); Feast takes the active one
    entity_df = requests.assign(**{REQUEST_ROW: range(len(requests))})
    job = store.get_historical_features(
        entity_df=entity_df, features=service, filter_by_created_timestamp=settings.created_cutoff
    )
    joined = job.to_spark_df()  # type: ignore[attr-defined]  # a SparkRetrievalJob
    features = [feature for source in sources for feature in source.features]
    present = F.lit(True)
    for feature in features:
        present = present & F.col(feature.name).isNotNull()
    columns = [F.col(REQUEST_ROW)]
    columns += [F.col(name) for name in requests.columns]
    columns += [F.col(f.name).cast(from_arrow_type(f.arrow_type)).alias(f.name) for f in features]
    columns.append(present.alias(HAS_FEATURES))
    # Feast's SQL keeps both rows of an exact (event time, created) tie: one row per request.
    return joined.select(*columns).dropDuplicates([REQUEST_ROW])


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


@dataclass(frozen=True)
class ScoringModel:
    """The registered version to apply: its name, version, logged model and input columns."""

    name: str
    version: str
    source: str | None
    inputs: list[str]


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
    if champion.source is None:
        raise UserError(f"{champion.name} version {champion.version} has no model source")
    spark = get_spark()
    frame = spark.read.parquet(str(features))
    missing = [name for name in champion.inputs if name not in frame.columns]
    if missing:
        raise UserError(
            f"{champion.name} version {champion.version} needs feature {missing[0]!r}, which "
            f"the feature service does not serve (it serves {frame.columns}); retrain on the "
            "current feature service"
        )
    mlflow.set_tracking_uri(get_mlflow_settings().resolved_tracking_uri)
    model = mlflow.pyfunc.spark_udf(
        spark, champion.source, result_type="double", env_manager="local"
    )
    # Rows without features are scored on zeros and their prediction nulled: a Python UDF runs
    # on every row whatever condition surrounds it, and the signature refuses nulls. float64
    # inputs, as the single-machine path gives the model (`predict.score`).
    inputs = [
        F.coalesce(F.col(name).cast("double"), F.lit(0.0)).alias(name) for name in champion.inputs
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
