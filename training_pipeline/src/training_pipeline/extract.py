"""Point-in-time training data: each labelled order joined to its driver's features as of the
order time, through the Feast feature service (never a hard-coded feature list)."""

from __future__ import annotations

import logging
from pathlib import Path

import pandas as pd
import pyarrow as pa
from feature_store.entity_rows import exact_ids, exact_times
from mlops_common.errors import UserError
from mlops_common.files import write_parquet
from mlops_common.paths import orders_path
from mlops_common.settings import get_feast_settings

from training_pipeline.run_files import ENTITY, LABEL, TIMESTAMP, FeatureList, RunFiles

logger = logging.getLogger(__name__)

_ROW = "_order_row"
APPLY_COMMAND = "training-pipeline feast-apply"


def read_orders(path: Path) -> pd.DataFrame:
    """The labelled orders (driver_id, event_timestamp, trip_completed), ids and times read
    exactly by the rules of batch request files (`feature_store.entity_rows`)."""
    if not path.is_file():
        raise UserError(
            f"labelled orders file {path} not found; run `data-pipeline generate` first "
            "(or set MLOPS_DATA_DIR to where the data is)"
        )
    orders = pd.read_parquet(path)
    missing = {ENTITY, TIMESTAMP, LABEL} - set(orders.columns)
    if missing:
        raise UserError(f"orders file {path} lacks columns {sorted(missing)}; regenerate it")
    orders[ENTITY] = exact_ids(orders[ENTITY], f"orders file {path}")
    orders[TIMESTAMP] = exact_times(orders[TIMESTAMP], f"orders file {path}")
    return orders[[ENTITY, TIMESTAMP, LABEL]]


def extract_training_set(run_id: str) -> Path:
    """Join the labelled orders to their point-in-time features; write the run's parquet.

    Rows keep the orders file's order, so the output depends only on the orders, the offline
    store and the registry (byte-identical on re-runs). Features missing at an order's time
    (before a driver's first report, or older than the view's ttl) stay null: validation
    measures them and preparation drops them.
    """
    from feature_store.layout import feature_refs, feature_service
    from feature_store.store import get_store, require_registry

    files = RunFiles.of(run_id)
    orders = read_orders(orders_path())
    service_name = get_feast_settings().feature_service
    require_registry(APPLY_COMMAND)
    store = get_store()
    service = feature_service(store, service_name, APPLY_COMMAND)
    refs = feature_refs(service)
    features = [name for _, name in refs]

    entity_df = orders.assign(**{_ROW: range(len(orders))})
    job = store.get_historical_features(entity_df=entity_df, features=service)
    joined = job.to_df()
    joined = joined.sort_values(_ROW, kind="stable").reset_index(drop=True)
    training_set = joined[[ENTITY, TIMESTAMP, *features, LABEL]].copy()
    training_set[TIMESTAMP] = pd.to_datetime(training_set[TIMESTAMP], utc=True).dt.as_unit("ns")

    write_parquet(pa.Table.from_pandas(training_set, preserve_index=False), files.training_set)
    FeatureList(
        feature_service=service_name,
        features=features,
        feature_refs=[f"{view}:{name}" for view, name in refs],
    ).write(files.features)
    logger.info(
        "extracted %d orders x %d features (%s) to %s",
        len(training_set),
        len(features),
        ", ".join(features),
        files.training_set,
    )
    return files.training_set
