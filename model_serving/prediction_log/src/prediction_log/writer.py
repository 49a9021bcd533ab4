"""Writes the prediction log (`prediction_log.schema`): served features through Feast's feature
logging, scores beside.

By default the feature log is written as parquet with pyarrow, which is what Feast's file
offline store writes into the LoggingConfig's folder; `PREDICTION_LOG_WRITER=feast` calls
`FeatureStore.write_logged_features` instead, whose ibis/DuckDB round trip cost the online
service about a fifth of its throughput under load (`make bench_prediction_log`; the test suite
checks both writers give the same rows). Feast's Spark offline store does not implement that
call: there the feast writer falls back to the pyarrow file.

Both datasets are partitioned by the hour of the log time (`mlops_common.partitions`) and
written atomically per batch: everything is first written under a hidden `.staging` folder on
the same file system and only renamed into its partition once every file is complete, so a
reader never takes a partial file, also when the disk fills up mid-write.
"""

from __future__ import annotations

import logging
import shutil
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from mlops_common.partitions import STAGING

from mlops_common import partitions
from prediction_log import schema
from prediction_log.schema import (
    LOG_DATE,
    LOG_REQUEST_ID,
    LOG_TIMESTAMP,
    NOT_FOUND,
    PREDICTIONS_SCHEMA,
    PRESENT,
)

if TYPE_CHECKING:
    from feast import FeatureService, FeatureStore

logger = logging.getLogger(__name__)


class PredictionLogError(RuntimeError):
    """The prediction log cannot be written (no logging config, unwritable destination)."""


@dataclass(frozen=True)
class LogBatch:
    """Rows to log, one per request and candidate driver (columns of equal length).

    `values[i]` holds row i's features in `feature_names` order (NaN where `found[i]` is
    False); `score` is NaN and `rank` 0 for drivers that could not be scored.
    """

    feature_names: tuple[str, ...]
    request_id: np.ndarray  # object (str)
    logged_at: np.ndarray  # datetime64[us], UTC
    driver_id: np.ndarray  # int64
    values: np.ndarray  # float64, rows x features
    found: np.ndarray  # bool
    score: np.ndarray  # float64
    rank: np.ndarray  # int32
    chosen: np.ndarray  # bool
    model_name: np.ndarray  # object (str)
    model_version: np.ndarray  # object (str)
    source: str
    # The challenger in shadow: its version and score per row (None / NaN where it did not
    # score); None: no challenger scored this batch.
    challenger_version: np.ndarray | None = None  # object (str or None)
    challenger_score: np.ndarray | None = None  # float64

    def __len__(self) -> int:
        return len(self.driver_id)


class PredictionLogWriter:
    """Writes `LogBatch`es as the feature service's Feast feature log plus the scores."""

    def __init__(
        self,
        store: FeatureStore,
        feature_service: str,
        predictions_dir: Path,
        *,
        feast_write: bool = False,
    ) -> None:
        from feast.feature_logging import FeatureServiceLoggingSource

        self._feast_write = feast_write

        service = store.get_feature_service(feature_service)
        config = service.logging_config
        if config is None or not hasattr(config.destination, "path"):
            raise PredictionLogError(
                f"feature service {feature_service!r} has no file LoggingConfig in the registry; "
                "run `data-pipeline feast-apply` (the feature repo defines it)"
            )
        self._store = store
        self._service = service
        self.features_dir = Path(config.destination.path)
        self.predictions_dir = predictions_dir
        self.schema = FeatureServiceLoggingSource(service, store.config.project).get_schema(
            store.registry
        )
        # Timestamps as Feast's file store (DuckDB) writes them: microseconds, where the
        # logging schema says seconds (which parquet cannot hold; pyarrow would write ms).
        self._file_schema = pa.schema(
            [
                field.with_type(pa.timestamp("us", tz=field.type.tz))
                if pa.types.is_timestamp(field.type)
                else field
                for field in self.schema
            ]
        )
        self._columns = self._feature_columns(service)
        self.feature_names = tuple(self._columns)

    @staticmethod
    def _feature_columns(service: FeatureService) -> dict[str, str]:
        """Feast's log column prefix (`<view>__<feature>`) per feature name."""
        columns: dict[str, str] = {}
        for projection in service.feature_view_projections:
            for feature in projection.features:
                if feature.name in columns:
                    raise PredictionLogError(
                        f"feature {feature.name!r} is served by two views; the prediction log "
                        "needs unique feature names"
                    )
                columns[feature.name] = schema.feature_column(
                    projection.name_to_use(), feature.name
                )
        return columns

    def feature_table(self, batch: LogBatch) -> pa.Table:
        """BATCH's served features in Feast's logging schema."""
        n = len(batch)
        stamps = pa.array(batch.logged_at, pa.timestamp("us")).cast(pa.timestamp("us", tz="UTC"))
        status = pa.array(np.where(batch.found, PRESENT, NOT_FOUND).astype(np.int32))
        # The online fast path reads values, not their event times: timestamps stay null.
        no_time = pa.nulls(n, pa.timestamp("us", tz="UTC"))
        arrays: dict[str, pa.Array] = {}
        index = {name: i for i, name in enumerate(batch.feature_names)}
        missing = ~batch.found
        for field in self.schema:
            name = field.name
            if name == schema.DRIVER_ID:
                arrays[name] = pa.array(batch.driver_id, pa.int64())
            elif name == LOG_TIMESTAMP:
                arrays[name] = stamps
            elif name == LOG_DATE:
                arrays[name] = stamps.cast(pa.date32())
            elif name == LOG_REQUEST_ID:
                arrays[name] = pa.array(batch.request_id, pa.string())
            elif name.endswith("__timestamp"):
                arrays[name] = no_time
            elif name.endswith("__status"):
                arrays[name] = status
            else:
                feature = name.split("__", 1)[1]
                column = batch.values[:, index[feature]]
                arrays[name] = pa.array(column, mask=missing).cast(field.type)
        return pa.table(arrays, schema=self.schema)

    @staticmethod
    def predictions_table(batch: LogBatch) -> pa.Table:
        scored = batch.rank > 0
        if batch.challenger_version is None or batch.challenger_score is None:
            challenger_version = pa.nulls(len(batch), pa.string())
            challenger_score = pa.nulls(len(batch), pa.float64())
        else:
            challenger_version = pa.array(batch.challenger_version, pa.string())
            challenger_score = pa.array(
                batch.challenger_score, mask=np.isnan(batch.challenger_score)
            )
        return pa.table(
            {
                schema.REQUEST_ID: pa.array(batch.request_id, pa.string()),
                schema.DRIVER_ID: pa.array(batch.driver_id, pa.int64()),
                schema.LOGGED_AT: pa.array(batch.logged_at, pa.timestamp("us")).cast(
                    pa.timestamp("us", tz="UTC")
                ),
                schema.MODEL_NAME: pa.array(batch.model_name, pa.string()),
                schema.MODEL_VERSION: pa.array(batch.model_version, pa.string()),
                schema.SCORE: pa.array(batch.score, mask=~scored),
                schema.RANK: pa.array(batch.rank, pa.int32(), mask=~scored),
                schema.CHOSEN: pa.array(batch.chosen, pa.bool_()),
                schema.SOURCE: pa.array([batch.source] * len(batch), pa.string()),
                schema.CHALLENGER_VERSION: challenger_version,
                schema.CHALLENGER_SCORE: challenger_score,
            },
            schema=PREDICTIONS_SCHEMA,
        )

    def _write_through_feast(self, features: pa.Table, stage: Path) -> list[Path]:
        """FEATURES written by `FeatureStore.write_logged_features` into the folder STAGE
        (a copy of the service whose LoggingConfig points there); the files it wrote."""
        import copy

        from feast.feature_logging import LoggingConfig
        from feast.infra.offline_stores.file_source import FileLoggingDestination

        stage.mkdir(parents=True, exist_ok=True)
        staged = copy.copy(self._service)
        staged.logging_config = LoggingConfig(destination=FileLoggingDestination(path=str(stage)))
        try:
            self._store.write_logged_features(features, staged)
        except NotImplementedError:
            # Feast 0.67's Spark offline store (FEAST_OFFLINE_STORE=spark) has no
            # write_logged_features: write what Feast's file offline store writes there.
            pq.write_table(features, stage / f"{uuid.uuid4().hex}-0.parquet")
        written = sorted(stage.glob("*.parquet"))
        if not written:
            raise PredictionLogError(f"Feast wrote no feature log file into {stage}")
        return written

    def _stage_features(self, features: pa.Table, name: str) -> partitions.Staged:
        """The feature log's files staged per hour partition (`partitions.stage`)."""
        if not self._feast_write:
            # What Feast's file offline store writes into the destination (a parquet file of
            # the logging schema's table), without its ibis/DuckDB round trip.
            return partitions.stage(
                features.cast(self._file_schema), self.features_dir, LOG_TIMESTAMP, name
            )
        staged: partitions.Staged = []
        for hour, part in partitions.split_by_hour(features, LOG_TIMESTAMP):
            folder = self.features_dir / STAGING / f"{hour:%Y%m%d%H}-{name}"
            target = partitions.partition_path(self.features_dir, hour)
            for index, path in enumerate(self._write_through_feast(part, folder)):
                staged.append((path, target / f"{name}-{index}.parquet"))
        return staged

    def write(self, batch: LogBatch, name: str | None = None) -> int:
        """Write BATCH to both datasets, all or nothing; the number of rows written.

        Each dataset is partitioned by the hour of the log time (`mlops_common.partitions`):
        a batch spanning an hour's end gives a file in each hour. Files are named after the
        batch's first log time and a random suffix, or NAME: a re-run writing the same NAME
        replaces its files instead of adding duplicates, also those it wrote in other hours.
        """
        if len(batch) == 0:
            return 0
        replacing = name is not None
        if name is None:
            first = datetime.fromtimestamp(
                batch.logged_at.min().astype("datetime64[us]").astype(np.int64) / 1e6, UTC
            )
            name = f"{first:%Y%m%dT%H%M%S%f}-{uuid.uuid4().hex[:12]}"
        staged: partitions.Staged = []
        try:
            staged += self._stage_features(self.feature_table(batch), name)
            staged += partitions.stage(
                self.predictions_table(batch), self.predictions_dir, schema.LOGGED_AT, name
            )
            placed = partitions.publish(staged)
        finally:
            partitions.discard(staged)
            if self._feast_write:
                for folder in self.features_dir.glob(f"{STAGING}/*-{name}"):
                    shutil.rmtree(folder, ignore_errors=True)
        if replacing:  # a re-run logged at another hour: its earlier files go
            for pattern in (f"{name}.parquet", f"{name}-[0-9]*.parquet"):  # arrow, feast
                partitions.remove_other_hours(self.features_dir, pattern, placed)
            partitions.remove_other_hours(self.predictions_dir, f"{name}.parquet", placed)
        return len(batch)


def open_writer() -> PredictionLogWriter:
    """The prediction log's writer from settings (the feature service, the scores folder,
    PREDICTION_LOG_WRITER), on the project's Feast store: the online log and batch scoring
    write through it alike."""
    from feature_store.store import get_store
    from mlops_common.paths import scores_log_dir
    from mlops_common.settings import get_feast_settings

    from prediction_log.settings import get_prediction_log_settings

    return PredictionLogWriter(
        get_store(),
        get_feast_settings().feature_service,
        scores_log_dir(),
        feast_write=get_prediction_log_settings().writer == "feast",
    )
