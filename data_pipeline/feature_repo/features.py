"""Feature definitions: the driver entity, its hourly statistics and the model's feature service."""

from datetime import timedelta

from feast import Entity, FeatureService, FeatureView, Field, FileSource
from feast.data_source import DataSource
from feast.feature_logging import LoggingConfig
from feast.infra.offline_stores.file_source import FileLoggingDestination
from feast.types import Float32, Int64
from feast.value_type import ValueType
from mlops_common.paths import driver_stats_path, feature_log_dir
from mlops_common.settings import get_feast_settings

driver = Entity(
    name="driver",
    join_keys=["driver_id"],
    value_type=ValueType.INT64,
    description="A driver who can be dispatched to a trip.",
)


def _driver_stats_source() -> DataSource:
    """The driver statistics parquet, as the offline store chosen in settings reads it
    (FEAST_OFFLINE_STORE): a FileSource for DuckDB, a SparkSource for Spark."""
    columns = {
        "name": "driver_stats_source",
        "path": str(driver_stats_path()),
        "timestamp_field": "event_timestamp",
        "created_timestamp_column": "created",
    }
    if get_feast_settings().offline_store == "spark":
        from feast.infra.offline_stores.contrib.spark_offline_store.spark_source import (
            SparkSource,
        )

        return SparkSource(file_format="parquet", **columns)
    return FileSource(**columns)


driver_stats_source = _driver_stats_source()

driver_stats_fv = FeatureView(
    name="driver_stats",
    entities=[driver],
    # Stats are refreshed hourly; after two days without an update they are too stale to trust.
    ttl=timedelta(days=2),
    schema=[
        Field(name="conv_rate", dtype=Float32),
        Field(name="acc_rate", dtype=Float32),
        Field(name="avg_daily_trips", dtype=Int64),
    ],
    online=True,
    source=driver_stats_source,
    tags={"team": "dispatch"},
)

driver_ranking_fs = FeatureService(
    name="driver_ranking",
    features=[driver_stats_fv],
    description="The features the driver ranking model is trained and served on.",
    # Feature logging: the online service (and batch scoring) record every served feature
    # value here with `FeatureStore.write_logged_features`, keyed by request id; the scores
    # and the model version sit beside it (the `prediction_log` package).
    logging_config=LoggingConfig(destination=FileLoggingDestination(path=str(feature_log_dir()))),
)
