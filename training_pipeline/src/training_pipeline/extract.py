"""Point-in-time training data: each labelled order joined to its driver's features as of the
order time, from the Feast feature service (never a hard-coded feature list), and the labelled
dispatches (served requests whose outcome arrived, `data-pipeline collect-labels`) with the
features they were served (TRAIN_SERVED_FEATURES=log, the default: training sees what the model
saw, a stale value included) or re-joined like the orders (`offline`).

Two engines give the same training set (`tests/integration/test_extract_engines.py`):
`sorted` (default, `TRAIN_EXTRACT_ENGINE`) joins in process (`feature_store.point_in_time`) on
the service layout the last `feast-apply` recorded, so the task never imports Feast (about 6 s
of the 9.5 s the task took through Feast, `make bench_tasks`); `feast` calls Feast's
`get_historical_features`, the reference. Without a recorded layout for the current
definitions (an apply by other means), `sorted` reads the layout from the registry, as batch
scoring's extract does.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.dataset as ds
from feature_store.entity_rows import exact_ids, exact_times
from mlops_common.errors import UserError
from mlops_common.files import write_parquet
from mlops_common.paths import labelled_dispatches_dir, orders_path
from mlops_common.settings import get_feast_settings

from mlops_common import partitions
from training_pipeline.run_files import ENTITY, LABEL, TIMESTAMP, FeatureList, RunFiles
from training_pipeline.settings import ExtractEngine, ServedFeatures, get_train_settings

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


def read_labelled_dispatches(folder: Path) -> pd.DataFrame:
    """Every labelled dispatch under FOLDER (empty when none): the order's columns and the
    features as served. FOLDER is partitioned by request time (`mlops_common.partitions`):
    the files a compaction replaced are left out, so no dispatch counts twice."""

    def read(files: list[Path]) -> pd.DataFrame | None:
        if not files:
            return None
        return ds.dataset([str(f) for f in files], format="parquet").to_table().to_pandas()

    frame = partitions.read_window(folder, None, None, read)
    if frame is None:
        return pd.DataFrame(columns=[ENTITY, TIMESTAMP, LABEL])
    frame[ENTITY] = exact_ids(frame[ENTITY], f"labelled dispatches in {folder}")
    frame[TIMESTAMP] = exact_times(frame[TIMESTAMP], f"labelled dispatches in {folder}")
    return frame.sort_values([TIMESTAMP, "request_id"], kind="stable").reset_index(drop=True)


def _served_rows(
    dispatches: pd.DataFrame,
    features: list[str],
    served_features: ServedFeatures,
    join: Callable[[pd.DataFrame, str], tuple[pd.DataFrame, list[tuple[str, str]]]],
    service_name: str,
) -> pd.DataFrame:
    """The labelled dispatches as training rows, with SERVED_FEATURES' values."""
    if dispatches.empty:
        return pd.DataFrame(columns=[ENTITY, TIMESTAMP, *features, LABEL])
    if served_features == "offline":
        joined, _ = join(dispatches[[ENTITY, TIMESTAMP, LABEL]], service_name)
        return joined[[ENTITY, TIMESTAMP, *features, LABEL]]
    missing = [name for name in features if name not in dispatches.columns]
    if missing:
        raise UserError(
            f"the labelled dispatches in {labelled_dispatches_dir()} lack the served features "
            f"{missing} of feature service {service_name!r}; set TRAIN_SERVED_FEATURES=offline "
            "to re-join them from the offline store"
        )
    return dispatches[[ENTITY, TIMESTAMP, *features, LABEL]]


def _join_sorted(
    orders: pd.DataFrame, service_name: str
) -> tuple[pd.DataFrame, list[tuple[str, str]]]:
    """The orders with their features by the sorted engine, and the service's feature refs."""
    from feature_store.apply import current_sources
    from feature_store.layout import source_feature_refs
    from feature_store.point_in_time import join_sorted

    sources = current_sources(service_name, APPLY_COMMAND)
    # Arrow to pandas by the rules Feast's `to_df()` follows: an int feature with nulls
    # becomes float64, float32 stays float32 (NaN for null).
    joined = join_sorted(orders, sources).to_pandas()
    return joined, source_feature_refs(sources)


def _join_feast(
    orders: pd.DataFrame, service_name: str
) -> tuple[pd.DataFrame, list[tuple[str, str]]]:
    """The orders with their features by Feast's `get_historical_features` (the reference),
    in the orders' row order, and the service's feature refs."""
    from feature_store.layout import feature_refs, feature_service
    from feature_store.store import get_store, require_registry

    require_registry(APPLY_COMMAND)
    store = get_store()
    service = feature_service(store, service_name, APPLY_COMMAND)
    entity_df = orders.assign(**{_ROW: range(len(orders))})
    joined = store.get_historical_features(entity_df=entity_df, features=service).to_df()
    joined = joined.sort_values(_ROW, kind="stable").reset_index(drop=True)
    return joined, feature_refs(service)


def extract_training_set(run_id: str, engine: ExtractEngine | None = None) -> Path:
    """Join the labelled orders to their point-in-time features; write the run's parquet.

    Rows keep the orders file's order, so the output depends only on the orders, the offline
    store and the registry (byte-identical on re-runs, and across ENGINEs; default:
    `TRAIN_EXTRACT_ENGINE`). Features missing at an order's time (before a driver's first
    report, or older than the view's ttl) stay null: validation measures them and preparation
    drops them.
    """
    engine = engine or get_train_settings().extract_engine
    files = RunFiles.of(run_id)
    orders = read_orders(orders_path())
    service_name = get_feast_settings().feature_service
    join = _join_sorted if engine == "sorted" else _join_feast
    joined, refs = join(orders, service_name)
    features = [name for _, name in refs]
    dispatches = read_labelled_dispatches(labelled_dispatches_dir())
    served = _served_rows(
        dispatches, features, get_train_settings().served_features, join, service_name
    )
    training_set = pd.concat(
        [joined[[ENTITY, TIMESTAMP, *features, LABEL]], served], ignore_index=True
    )
    if len(served):  # served values are float64; the joined ones keep the registry's types
        training_set[features] = training_set[features].astype("float64")
    training_set[TIMESTAMP] = pd.to_datetime(training_set[TIMESTAMP], utc=True).dt.as_unit("ns")

    write_parquet(pa.Table.from_pandas(training_set, preserve_index=False), files.training_set)
    FeatureList(
        feature_service=service_name,
        features=features,
        feature_refs=[f"{view}:{name}" for view, name in refs],
    ).write(files.features)
    logger.info(
        "extracted %d orders and %d labelled dispatches x %d features (%s, %s engine) to %s",
        len(orders),
        len(served),
        len(features),
        ", ".join(features),
        engine,
        files.training_set,
    )
    return files.training_set
