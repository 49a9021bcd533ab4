"""Materialize the latest in-window feature rows into the online store (Redis).

Three engines write the same keys and values:

* `feast`: Feast's own `FeatureStore.materialize` (measured 3,800-9,700 rows/s for 10,000
  drivers here: an ibis plan over the source, then per row arrow-to-proto conversion, entity
  key serialization and one feature-name hash per value).
* `fast` (default): DuckDB picks the latest row per entity from the view's parquet source with
  the filter and tie-break Feast's offline store uses (`start <= event_timestamp <= end`, newest
  event time, then newest created time); keys, hash fields and values are built by
  `feature_store.feast_internals` (Feast's key helpers and type map); Feast's rule (write a
  row only if it is newer than the stored one) is applied after one batched read of the
  stored timestamps; each batch of hashes is written with one Redis command (a Lua script) on a
  standalone Redis, or with the cluster client's per-node pipelines on a Redis Cluster. The
  interval is recorded in the registry as Feast records it. See the README for the benchmark.
* `spark`: Feast's own `FeatureStore.materialize` on Feast's Spark compute engine
  (`batch_engine: spark.engine`, which FEAST_OFFLINE_STORE=spark selects): Spark reads the
  SparkSource and its executors write Redis, so materialization grows with the cluster.

Both are incremental: a view starts where its last recorded interval ended, or at END - ttl on
its first run. (Feast's own `materialize_incremental` would start at now - ttl; using the run's
logical time keeps a DAG run reproducible.)
"""

from __future__ import annotations

import contextlib
import gc
import logging
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from itertools import chain
from pathlib import Path
from typing import Any, Literal

import duckdb
import numpy as np
import pyarrow as pa
from feast import FeatureStore, FeatureView
from feature_store import feast_internals
from feature_store.layout import parquet_path
from feature_store.store import get_store
from mlops_common.errors import UserError

logger = logging.getLogger(__name__)

Engine = Literal["fast", "feast", "spark"]
ENGINES: tuple[Engine, ...] = ("fast", "feast", "spark")
BATCH_ROWS = 10_000


@dataclass(frozen=True)
class MaterializationResult:
    """One feature view materialized over [start, end]."""

    feature_view: str
    engine: str
    start: datetime
    end: datetime
    rows: int
    seconds: float

    @property
    def rows_per_second(self) -> float:
        return self.rows / self.seconds if self.seconds > 0 else float("inf")


def as_utc(moment: datetime) -> datetime:
    """MOMENT as an aware UTC datetime (naive input is taken as UTC)."""
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def materialization_window(view: FeatureView, end: datetime) -> tuple[datetime, datetime]:
    """Where an incremental run of VIEW up to END starts: the last recorded end, else END-ttl."""
    end = as_utc(end)
    if view.most_recent_end_time is not None:
        return as_utc(view.most_recent_end_time), end
    if not view.ttl:
        raise UserError(f"feature view {view.name} has no ttl: give it one in the feature repo")
    return end - view.ttl, end


def source_path(store: FeatureStore, view: FeatureView) -> Path:
    """The parquet file behind VIEW (relative paths are under the repo)."""
    path = parquet_path(store, view.batch_source)
    assert path is not None
    return path


def fast_path_supported(store: FeatureStore, view: FeatureView) -> bool:
    """The fast engine handles parquet sources (FileSource, or SparkSource over a parquet
    path) without field mappings on Feast's Redis online store, standalone or cluster."""
    source = view.batch_source
    return (
        source is not None
        and parquet_path(store, source) is not None
        and not source.field_mapping
        and feast_internals.redis_topology(store) is not None
    )


def latest_rows(store: FeatureStore, view: FeatureView, start: datetime, end: datetime) -> pa.Table:
    """Per entity, the newest row with start <= event time <= end (ties: newest created)."""
    source = view.batch_source
    assert source is not None
    path = source_path(store, view)
    if not path.is_file():
        raise UserError(f"the offline store {path} does not exist: run ingest and validate first")
    join_keys = [_ident(column.name) for column in view.entity_columns]
    features = [_ident(feature.name) for feature in view.features]
    event = _ident(source.timestamp_field)
    # arg_max over (event time, created time) = Feast's dedup order, in one aggregation pass.
    created = source.created_timestamp_column
    order = f"({event}, {_ident(created)})" if created else event
    latest = f"struct_pack({', '.join([*features, event])})"
    query = (
        f"SELECT {', '.join(join_keys)}, unnest(arg_max({latest}, {order})) "
        f"FROM read_parquet($path) WHERE {event} >= $start AND {event} <= $end "
        f"GROUP BY {', '.join(join_keys)} ORDER BY {', '.join(join_keys)}"
    )
    with duckdb.connect() as con:
        return con.sql(
            query, params={"path": str(path), "start": start, "end": end}
        ).to_arrow_table()


def _ident(name: str) -> str:
    """NAME quoted as a DuckDB identifier."""
    return '"' + name.replace('"', '""') + '"'


def _event_nanos(table: pa.Table | pa.RecordBatch, column: str) -> np.ndarray:
    stamps = table.column(column).cast(pa.timestamp("us", tz="UTC")).cast(pa.int64())
    return stamps.to_numpy(zero_copy_only=False) * 1_000


@contextlib.contextmanager
def _gc_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector: a batch allocates ~10 small, acyclic objects per row,
    and the collections they trigger rescan everything Feast has loaded."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


# Standalone Redis: batched as Lua scripts, one command per batch instead of one parsed reply
# per key (a pipeline of HGETs costs ~4x more here). The stored event times of many hashes:
_READ_TIMESTAMPS = """
local out = {}
for i, key in ipairs(KEYS) do out[i] = redis.call('HGET', key, ARGV[1]) end
return out
"""


# HSET (and EXPIRE when the store sets a key ttl) for many hashes in one command: ARGV holds
# the field count per key, the ttl (0: none), then each key's field/value pairs in KEYS order.
_WRITE_HASHES = """
local width = 2 * tonumber(ARGV[1])
local ttl = tonumber(ARGV[2])
local pos = 3
for _, key in ipairs(KEYS) do
  redis.call('HSET', key, unpack(ARGV, pos, pos + width - 1))
  if ttl > 0 then redis.call('EXPIRE', key, ttl) end
  pos = pos + width
end
return #KEYS
"""


class _ScriptWriter:
    """Reads and writes a batch of hashes on a standalone Redis with one script call each."""

    def __init__(self, client: Any) -> None:
        self._read = client.register_script(_READ_TIMESTAMPS)
        self._write = client.register_script(_WRITE_HASHES)

    def stored_timestamps(self, keys: list[bytes], ts_field: bytes) -> list[bytes | None]:
        return list(self._read(keys=keys, args=[ts_field]))

    def write(self, keys: list[bytes], hashes: list[list[bytes]], key_ttl: int) -> None:
        width = len(hashes[0]) // 2
        self._write(keys=keys, args=[width, key_ttl, *chain.from_iterable(hashes)])


class _ClusterWriter:
    """The same on a Redis Cluster: a script's keys must share one slot, so each batch is a
    redis-py cluster pipeline instead, which groups the commands by the node serving each key's
    slot, sends one pipeline per node and follows MOVED/ASK redirections (measured against
    the standalone scripts by `bench/bench_materialize.py`)."""

    def __init__(self, client: Any) -> None:
        self._client = client

    def stored_timestamps(self, keys: list[bytes], ts_field: bytes) -> list[bytes | None]:
        with self._client.pipeline(transaction=False) as pipe:
            for key in keys:
                pipe.hget(key, ts_field)
            return list(pipe.execute())

    def write(self, keys: list[bytes], hashes: list[list[bytes]], key_ttl: int) -> None:
        with self._client.pipeline(transaction=False) as pipe:
            for key, pairs in zip(keys, hashes, strict=True):
                pipe.hset(key, items=pairs)
                if key_ttl:
                    pipe.expire(key, key_ttl)
            pipe.execute()


def _is_newer(nanos: int, stored: bytes | None) -> bool:
    """Feast's rule: write a row only if its event time is after the stored one."""
    return stored is None or nanos > feast_internals.timestamp_nanos(stored)


def write_online(
    store: FeatureStore, view: FeatureView, table: pa.Table, batch_rows: int = BATCH_ROWS
) -> int:
    """Write TABLE's rows to Redis as Feast's online store does; return rows written.

    Same key (`_redis_key`), same hash fields (`_mmh3("<view>:<feature>")`, `_ts:<view>`), same
    serialized ValueProtos and Timestamp, and Feast's rule of skipping a row whose event time is
    not newer than the stored one. On a Redis Cluster the same commands go through the
    cluster client's per-node pipelines.
    """
    config = store.config
    client = feast_internals.online_store_client(store)
    cluster = feast_internals.redis_topology(store) == "cluster"
    writer = _ClusterWriter(client) if cluster else _ScriptWriter(client)
    view_name = feast_internals.stored_view_name(view, store)
    ts_field = feast_internals.timestamp_field(view_name)
    join_keys = {c.name: c.dtype.to_value_type() for c in view.entity_columns}
    features = {f.name: f.dtype.to_value_type() for f in view.features}
    fields = {name: feast_internals.hash_field(view_name, name) for name in features}
    version = config.entity_key_serialization_version
    key_ttl = config.online_store.key_ttl_seconds
    assert view.batch_source is not None
    timestamp_field = view.batch_source.timestamp_field
    written = 0
    with _gc_paused():
        for batch in table.combine_chunks().to_batches(max_chunksize=batch_rows):
            entity_values = [
                feast_internals.proto_values(batch.column(k), t) for k, t in join_keys.items()
            ]
            keys = feast_internals.redis_keys(
                config.project, list(join_keys), entity_values, version
            )
            values = {
                fields[name]: feast_internals.serialized_values(batch.column(name), t)
                for name, t in features.items()
            }
            nanos = _event_nanos(batch, timestamp_field)
            stamps = feast_internals.serialized_timestamps(nanos)
            stored = writer.stored_timestamps(keys, ts_field)
            newer = [i for i in range(len(keys)) if _is_newer(int(nanos[i]), stored[i])]
            if not newer:
                continue
            # Per key: _ts field, its timestamp, then each feature's field and value.
            hashes = []
            for i in newer:
                pairs = [ts_field, stamps[i]]
                for field, serialized in values.items():
                    pairs += [field, serialized[i]]
                hashes.append(pairs)
            writer.write([keys[i] for i in newer], hashes, key_ttl or 0)
            written += len(newer)
    return written


def _views(store: FeatureStore, names: Sequence[str] | None) -> list[FeatureView]:
    views = [view for view in store.list_feature_views() if view.online]
    if not views:
        raise UserError("the registry has no online feature views: run feast-apply first")
    if names:
        unknown = set(names) - {view.name for view in views}
        if unknown:
            known = sorted(view.name for view in views)
            raise UserError(f"unknown feature views {sorted(unknown)}; known: {known}")
        views = [view for view in views if view.name in names]
    return views


def _require_spark_engine(store: FeatureStore) -> None:
    """A UserError unless the store's compute engine is Spark's (FEAST_OFFLINE_STORE=spark)."""
    engine = store.config.batch_engine
    if getattr(engine, "type", engine) != "spark.engine":
        raise UserError(
            "--engine spark materializes with Feast's Spark compute engine, which reads the "
            "Spark offline store: set FEAST_OFFLINE_STORE=spark (then run feast-apply)"
        )


def materialize(
    end_time: datetime,
    *,
    engine: Engine = "fast",
    feature_views: Sequence[str] | None = None,
    store: FeatureStore | None = None,
) -> list[MaterializationResult]:
    """Incrementally materialize the online feature views up to END_TIME with ENGINE."""
    store = store or get_store()
    if engine == "spark":
        _require_spark_engine(store)
    results = []
    materialized_up_to: dict[str, datetime] = {}
    for view in _views(store, feature_views):
        start, end = materialization_window(view, end_time)
        materialized_up_to[view.name] = max(start, end)
        if start >= end:
            logger.info("%s is already materialized up to %s; nothing to do", view.name, start)
            continue
        fast = fast_path_supported(store, view)
        if engine == "fast" and fast:
            began = time.perf_counter()
            table = latest_rows(store, view, start, end)
            rows = table.num_rows
            written = write_online(store, view, table)
            logger.info("%s: %d of %d rows newer than Redis's, written", view.name, written, rows)
            feast_internals.record_materialization(store, view, start, end)
        else:
            if engine == "fast":
                logger.warning("%s: source not supported by the fast path; using Feast", view.name)
            # Counted beforehand (outside the timing) so the engines report rows/s alike.
            rows = latest_rows(store, view, start, end).num_rows if fast else -1
            began = time.perf_counter()
            if engine == "spark":
                from feature_store.spark import get_spark

                get_spark()  # the project's session (settings, clear errors); Feast takes it
            store.materialize(start, end, feature_views=[view.name])
        result = MaterializationResult(
            view.name, engine, start, end, rows, time.perf_counter() - began
        )
        logger.info(
            "materialized %s [%s, %s] with %s: %d rows in %.2f s (%.0f rows/s)",
            view.name,
            start.isoformat(),
            end.isoformat(),
            engine,
            rows,
            result.seconds,
            result.rows_per_second,
        )
        results.append(result)
    export_freshness(materialized_up_to, {r.feature_view: r.rows for r in results})
    return results


def export_freshness(materialized_up_to: dict[str, datetime], rows: dict[str, int]) -> bool:
    """Push how far each view is materialized and when this ran (Prometheus alerts on
    features going stale: `time() - driver_ranking_materialization_end_timestamp_seconds`)."""
    from mlops_common.pushgateway import push_figures
    from prometheus_client import CollectorRegistry, Gauge

    def build(registry: CollectorRegistry) -> None:
        end = Gauge(
            "driver_ranking_materialization_end_timestamp_seconds",
            "End of the interval each feature view is materialized up to (Unix time).",
            ["feature_view"],
            registry=registry,
        )
        written = Gauge(
            "driver_ranking_materialization_rows",
            "Rows the last materialization read per feature view (0: nothing new).",
            ["feature_view"],
            registry=registry,
        )
        for view, moment in materialized_up_to.items():
            end.labels(feature_view=view).set(as_utc(moment).timestamp())
            written.labels(feature_view=view).set(max(rows.get(view, 0), 0))
        Gauge(
            "driver_ranking_materialization_last_run_timestamp_seconds",
            "When the last materialization finished (Unix time).",
            registry=registry,
        ).set_to_current_time()

    return push_figures("materialize", build)
