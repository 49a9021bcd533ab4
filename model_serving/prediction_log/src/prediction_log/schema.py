"""The prediction log's two datasets and their columns: the names every writer and reader uses.

One row per request and candidate driver, in two datasets under `DATA_DIR/prediction_log/`
(`mlops_common.paths`):

* `features/`: Feast's feature log of the `driver_ranking` feature service, in the file
  destination of its `LoggingConfig` (the feature repo) and in Feast's logging schema
  (`FeatureServiceLoggingSource.get_schema`): the join key, per feature `<view>__<feature>`
  with its `__timestamp` and `__status`, and `__log_timestamp`, `__log_date`, `__request_id`.
* `predictions/`: what Feast's log has no place for (`PREDICTIONS_SCHEMA`): request id, driver
  id, log time, model name and version, score, rank (1 = best), whether the driver was chosen,
  and the source (`online` or `batch`). Joined to the features by (request id, driver id).
  Beside them the challenger's columns (`CHALLENGER_FIELDS`): the version of the model in
  shadow and its score of the same driver on the same features, null where no challenger
  scored the row (none in shadow, not in the sampled share, it failed, or batch scoring
  without BATCH_SCORE_CHALLENGER). Files written before these columns read them as null
  under `PREDICTIONS_SCHEMA`.
"""

from __future__ import annotations

import pyarrow as pa

# Feast's feature log columns (feast.feature_logging).
LOG_REQUEST_ID = "__request_id"
LOG_TIMESTAMP = "__log_timestamp"
LOG_DATE = "__log_date"
# Feast's FieldStatus values (feast.protos.feast.serving.ServingService_pb2.FieldStatus).
PRESENT, NOT_FOUND = 1, 3

# The predictions dataset's columns.
REQUEST_ID = "request_id"
DRIVER_ID = "driver_id"
LOGGED_AT = "log_timestamp"
MODEL_NAME = "model_name"
MODEL_VERSION = "model_version"
SCORE = "score"
RANK = "rank"
CHOSEN = "chosen"
SOURCE = "source"
ONLINE, BATCH = "online", "batch"  # the values of SOURCE

# Shadow scoring (PROMOTION_MODE=shadow): the challenger beside the answering champion.
CHALLENGER_VERSION = "challenger_version"
CHALLENGER_SCORE = "challenger_score"
CHALLENGER_FIELDS = pa.schema(
    [
        pa.field(CHALLENGER_VERSION, pa.string(), nullable=True),
        pa.field(CHALLENGER_SCORE, pa.float64(), nullable=True),
    ]
)

PREDICTIONS_SCHEMA = pa.schema(
    [
        (REQUEST_ID, pa.string()),
        (DRIVER_ID, pa.int64()),
        (LOGGED_AT, pa.timestamp("us", tz="UTC")),
        (MODEL_NAME, pa.string()),
        (MODEL_VERSION, pa.string()),
        (SCORE, pa.float64()),
        (RANK, pa.int32()),
        (CHOSEN, pa.bool_()),
        (SOURCE, pa.string()),
        *CHALLENGER_FIELDS,
    ]
)


def feature_column(view: str, feature: str) -> str:
    """Feast's log column of FEATURE served from VIEW."""
    return f"{view}__{feature}"
