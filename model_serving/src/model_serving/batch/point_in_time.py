"""Point-in-time features for request rows: a DuckDB ASOF join, and Feast as the reference.

Both engines follow Feast's offline-store semantics (`feast.infra.offline_stores.ibis`):
a request at time t gets, per join key, the feature row with the greatest
(event timestamp, created timestamp) such that event timestamp <= t (inclusive) and
event timestamp + ttl >= t (inclusive). The ASOF join finds the latest row at or before t, with
the created column as tie breaker; if that row is past ttl, every earlier row is too, so the
features are null. Rows without features are kept and flagged, never dropped.
Both return the request columns in request order, the features typed as the registry
declares them, and `has_features` (every feature of the service has a value).
"""

from __future__ import annotations

import logging

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from feast import FeatureService, FeatureStore

from model_serving.batch.definitions import ViewSource
from model_serving.batch.requests import TIMESTAMP_COLUMN
from model_serving.settings import BatchSettings

logger = logging.getLogger(__name__)

HAS_FEATURES = "has_features"
_ROW = "__request_row"


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _literal(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _view_query(previous: str, source: ViewSource, index: int, columns: list[str]) -> str:
    """SELECT adding SOURCE's features to the rows of PREVIOUS (a query over the requests)."""
    f = f"f{index}"
    ts, created = f"{f}.__ts", f"{f}.__created"
    keys = ", ".join(f"{_quote(src)} AS {_quote(req)}" for src, req in source.join_keys.items())
    features = ", ".join(
        f"{_quote(feature.source_column)} AS {_quote(feature.name)}" for feature in source.features
    )
    created_expr = (
        # Feast orders DESC on created, DuckDB puts NULLs last there: a missing created loses.
        f"coalesce(CAST({_quote(source.created_field)} AS TIMESTAMPTZ), '-infinity')"
        if source.created_field
        else "CAST('-infinity' AS TIMESTAMPTZ)"
    )
    event_ts = f"CAST({_quote(source.timestamp_field)} AS TIMESTAMPTZ)"
    ttl_us = None if source.ttl is None else int(source.ttl.total_seconds() * 1_000_000)
    # Only rows that can match some request: its drivers, its time window (less ttl).
    where = [f"{event_ts} <= (SELECT max({TIMESTAMP_COLUMN}) FROM requests)"]
    if ttl_us is not None:
        where.append(
            f"{event_ts} >= (SELECT min({TIMESTAMP_COLUMN}) FROM requests) "
            f"- to_microseconds({ttl_us})"
        )
    for src, req in source.join_keys.items():
        where.append(f"{_quote(src)} IN (SELECT DISTINCT {_quote(req)} FROM requests)")
    on = [f"r.{_quote(req)} = {f}.{_quote(req)}" for req in source.join_keys.values()]
    # Struct comparison is lexicographic: latest event time first, then latest created.
    on.append(
        f"struct_pack(t := r.{TIMESTAMP_COLUMN}, c := CAST('infinity' AS TIMESTAMPTZ))"
        f" >= struct_pack(t := {ts}, c := {created})"
    )
    fresh = f"{ts} IS NOT NULL"
    if ttl_us is not None:
        fresh += f" AND {ts} + to_microseconds({ttl_us}) >= r.{TIMESTAMP_COLUMN}"
    selected = ", ".join(f"r.{_quote(c)}" for c in columns)
    picked = ", ".join(
        f"CASE WHEN {fresh} THEN {f}.{_quote(feature.name)} END AS {_quote(feature.name)}"
        for feature in source.features
    )
    return (
        f"SELECT {selected}, {picked} FROM ({previous}) r ASOF LEFT JOIN ("
        f"SELECT {keys}, {event_ts} AS __ts, {created_expr} AS __created, {features} "
        f"FROM read_parquet({_literal(str(source.path))}) WHERE {' AND '.join(where)}"
        f") {f} ON {' AND '.join(on)}"
    )


def join_duckdb(
    requests: pd.DataFrame, sources: list[ViewSource], settings: BatchSettings
) -> pa.Table:
    """Point-in-time features for REQUESTS by ASOF joins over the views' parquet files."""
    table = pa.Table.from_pandas(requests, preserve_index=False)
    table = table.append_column(_ROW, pa.array(np.arange(table.num_rows, dtype=np.int64)))
    config: dict[str, str | int] = {"memory_limit": settings.duckdb_memory_limit}
    if settings.duckdb_threads:
        config["threads"] = settings.duckdb_threads
    with duckdb.connect(config=config) as con:
        con.execute("SET TimeZone = 'UTC'")
        con.register("requests", table)
        columns = list(table.column_names)
        query = "SELECT * FROM requests"
        for index, source in enumerate(sources):
            query = _view_query(query, source, index, columns)
            columns += [feature.name for feature in source.features]
        joined = con.sql(query).to_arrow_table()
    # The join does not keep the request order; put every row back where it came from.
    order = np.empty(joined.num_rows, dtype=np.int64)
    order[joined.column(_ROW).to_numpy()] = np.arange(joined.num_rows, dtype=np.int64)
    joined = joined.take(pa.array(order)).drop_columns([_ROW])
    return _finish(joined, requests, sources)


def join_feast(
    requests: pd.DataFrame,
    store: FeatureStore,
    service: FeatureService,
    sources: list[ViewSource],
) -> pa.Table:
    """The reference: Feast's offline store `get_historical_features` for the service."""
    entity_df = requests.assign(**{_ROW: np.arange(len(requests), dtype=np.int64)})
    frame = store.get_historical_features(entity_df=entity_df, features=service).to_df()
    frame = frame.sort_values(_ROW, kind="stable").drop(columns=[_ROW])
    feature_names = [feature.name for source in sources for feature in source.features]
    frame[TIMESTAMP_COLUMN] = pd.to_datetime(frame[TIMESTAMP_COLUMN], utc=True).dt.as_unit("us")
    arrays = {
        name: pa.array(frame[name].to_numpy(dtype=object), from_pandas=True)
        for name in feature_names
    }
    base = pa.Table.from_pandas(frame[list(requests.columns)], preserve_index=False)
    for name, values in arrays.items():
        base = base.append_column(name, values)
    return _finish(base, requests, sources)


def _finish(joined: pa.Table, requests: pd.DataFrame, sources: list[ViewSource]) -> pa.Table:
    """Request columns, typed features, `has_features`; one contiguous chunk per column."""
    request_table = pa.Table.from_pandas(requests, preserve_index=False)
    columns = {
        name: joined.column(name).cast(request_table.schema.field(name).type)
        for name in request_table.column_names
    }
    present = None
    for source in sources:
        for feature in source.features:
            values = joined.column(feature.name).cast(feature.arrow_type)
            columns[feature.name] = values
            valid = pc.is_valid(values)
            present = valid if present is None else pc.and_(present, valid)
    if present is None:
        present = pa.array(np.ones(joined.num_rows, dtype=bool))
    columns[HAS_FEATURES] = present
    result = pa.table(columns).combine_chunks()
    logger.info(
        "joined features for %d rows, %d without features",
        result.num_rows,
        result.num_rows - pc.sum(present).as_py() if result.num_rows else 0,
    )
    return result
