"""The extract task: point-in-time features for a request file, handed to predict as parquet."""

from __future__ import annotations

import logging
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pyarrow.compute as pc
from feature_store.apply import current_sources
from feature_store.layout import feature_service, request_join_keys, service_sources
from feature_store.point_in_time import (
    HAS_FEATURES,
    join_duckdb,
    join_feast,
    join_sorted,
    read_views,
)
from feature_store.store import get_store
from mlops_common.paths import batch_requests_path
from mlops_common.settings import get_feast_settings

from batch_scoring.requests import load_requests
from batch_scoring.run_files import (
    ExtractReport,
    extract_report_path,
    features_path,
    write_table,
)
from batch_scoring.settings import BatchSettings, Engine, get_batch_settings

logger = logging.getLogger(__name__)

APPLY_COMMAND = "model-serving feast-apply"


def extract_features(
    run_id: str,
    requests_path: Path | None = None,
    engine: Engine | None = None,
    settings: BatchSettings | None = None,
) -> Path:
    """Join the service's features as of each request's time and write them for RUN_ID."""
    started = time.perf_counter()
    settings = settings or get_batch_settings()
    engine = engine or settings.engine
    requests_path = requests_path or batch_requests_path()
    service_name = get_feast_settings().feature_service
    # The in-process engines need only the layout: recorded by the last apply, no Feast import.
    store = service = None
    if engine in ("sorted", "duckdb"):
        sources = current_sources(service_name, APPLY_COMMAND)
    else:
        store = get_store()
        service = feature_service(store, service_name, APPLY_COMMAND)
        sources = service_sources(store, service)
    # Data path (read, join, write) timed apart from the fixed set-up cost above.
    data_started = time.perf_counter()
    join_keys = request_join_keys(sources)
    if engine == "sorted":
        # The feature files are read on a second thread while the request file is read and
        # checked (pyarrow and numpy release the GIL).
        with ThreadPoolExecutor(max_workers=1) as pool:
            views = pool.submit(read_views, sources)
            requests = load_requests(requests_path, join_keys)
            table = join_sorted(requests, sources, settings.join_options(), views.result())
    elif engine == "duckdb":
        table = join_duckdb(
            load_requests(requests_path, join_keys), sources, settings.join_options()
        )
    elif engine == "spark":
        from batch_scoring.spark_engine import dataset_counts, join_spark, write_dataset

        requests = load_requests(requests_path, join_keys)
        assert store is not None
        assert service is not None
        frame = join_spark(requests, store, service, sources, settings)
        target = write_dataset(frame, features_path(run_id))
        rows, with_features = dataset_counts(target)
    else:
        requests = load_requests(requests_path, join_keys)
        assert store is not None
        assert service is not None
        table = join_feast(requests, store, service, sources, settings.join_options())
    if engine != "spark":
        target = write_table(table, features_path(run_id))
        rows = table.num_rows
        with_features = pc.sum(table.column(HAS_FEATURES)).as_py() or 0
    finished = time.perf_counter()
    seconds, data_seconds = finished - started, finished - data_started
    without = rows - with_features
    ExtractReport(
        run_id=run_id,
        requests_path=str(requests_path),
        engine=engine,
        rows_in=rows,
        rows_without_features=without,
        seconds=round(seconds, 3),
        data_seconds=round(data_seconds, 3),
    ).write(extract_report_path(run_id))
    logger.info(
        "extract (%s): %d rows, %d without features, %.2f s (read+join+write %.2f s) -> %s",
        engine,
        rows,
        without,
        seconds,
        data_seconds,
        target,
    )
    return target
