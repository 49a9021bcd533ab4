"""Point-in-time features for entity rows: two fast engines, and Feast as the reference.

Training's extract (labelled orders) and batch scoring's extract (request files) both join
here: `get_historical_features` costs 7-14 s per task on this machine, most of it importing
Feast (about 6 s), while the sorted engine joins the demo's 20,000 orders in well under a
second without importing Feast (it reads the layout the last `feast-apply` recorded,
`feature_store.apply.applied_sources`).

`sorted` searches each request in the feature rows ordered by (join key, event
time, created) with numpy; `duckdb` runs an ASOF JOIN; `feast` calls the offline store.
All engines follow Feast's offline-store semantics (`feast.infra.offline_stores.ibis`):
a request at time t gets, per join key, the feature row with the greatest
(event timestamp, created timestamp) such that event timestamp <= t (inclusive) and
event timestamp + ttl >= t (inclusive). The fast engines find the latest row at or before t, with
the created column as tie breaker; if that row is past ttl, every earlier row is too, so the
features are null. Rows without features are kept and flagged, never dropped.

With the `created` cutoff (`JoinOptions.created_cutoff`, Feast's
`filter_by_created_timestamp`) a feature row also needs created timestamp <= t (a row without a
created time is never known in time, as in Feast's SQL, where NULL <= t is not true): a value
backfilled after the request cannot be seen by it. Views without a created column are
unaffected. The sorted engine steps back from the latest row at or before t while that row was
created after t (bounded; beyond the bound it hands over to DuckDB); DuckDB ranks the matching
rows per request (a range join); Feast gets `filter_by_created_timestamp=True`.
Request columns named like a feature or an internal column are refused first
(`check_entity_columns`): they would be silently replaced or break the join.
All return the request columns in request order, the features typed as the registry
declares them, and `has_features` (every feature of the service has a value).

The equality with Feast's own join is proved by `model_serving/tests/batch/test_point_in_time.py`
(and `test_created_cutoff.py`, `test_request_times.py`) for request files, and by
`training_pipeline/tests/integration/test_extract_engines.py` for the training set.
pandas and DuckDB are imported only where they are used, so that the batch predict task can
import `HAS_FEATURES` without them.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from mlops_common.errors import UserError

from feature_store.feast_internals import ENTITY_TIMESTAMP_COLUMN
from feature_store.layout import ViewSource

if TYPE_CHECKING:  # Feast is imported only by the `feast` engine (about 6 s)
    import pandas as pd
    from feast import FeatureService, FeatureStore

logger = logging.getLogger(__name__)

# Feast's name for the time of an entity row; the join is "as of" it.
TIMESTAMP_COLUMN = ENTITY_TIMESTAMP_COLUMN
# The join's own row number (it puts rows back in request order).
REQUEST_ROW = "__request_row"
# The column every engine adds: the row has a value for every feature.
HAS_FEATURES = "has_features"
# Columns Feast's offline store adds to the entity rows while it joins
# (`feast.infra.offline_stores.ibis.point_in_time_join`): a request column of the same name
# breaks or silently changes its join. It also renames request columns that share a name with
# a column of the feature file to `<name>_y` (and `<name>_yyyy`): a request column ending in
# `_y` can collide with those ("Name collisions: {'driver_id_y'}").
FEAST_INTERNAL_COLUMNS = ("entity_row_id", "event_expire_timestamp", "rn")
FEAST_RENAME_SUFFIX = "_y"

_ROW = REQUEST_ROW
# Most steps back the sorted engine takes past rows created after the request (one step per
# such row; a backfill can need as many as a ttl holds); beyond it DuckDB joins instead.
CUTOFF_MAX_STEPS = 64


@dataclass(frozen=True)
class JoinOptions:
    """How the engines join: the created cutoff (off: Feast's default) and how much of the
    machine DuckDB may use (it also joins for the sorted engine when that cannot)."""

    created_cutoff: bool = False
    duckdb_threads: int | None = None  # None: one per core
    duckdb_memory_limit: str = "1GB"  # DuckDB spills to disk beyond it


def check_entity_columns(
    columns: Iterable[object],
    feature_names: Iterable[str] = (),
    where: str = "request rows",
    reserved: Mapping[str, str] | None = None,
) -> None:
    """A UserError if an entity row column would collide with a feature (FEATURE_NAMES), a
    column the engines add while joining or a name in RESERVED (name -> what it is); or if a
    name occurs twice. WHERE names the rows in the message (e.g. "request file /data/r.csv")."""
    names = [str(c) for c in columns]
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        raise UserError(f"{where}: column {repeated[0]!r} occurs twice; rename one of them")
    taken = {name: "a feature of the feature service" for name in feature_names}
    taken |= {name: "a column the point-in-time join adds" for name in FEAST_INTERNAL_COLUMNS}
    taken |= {name: "a column the point-in-time join adds" for name in (REQUEST_ROW, HAS_FEATURES)}
    taken |= dict(reserved or {})
    for name in names:
        what = taken.get(name)
        if what is None and name.startswith("__"):
            what = "the join's own names (starting with '__')"
        if what is None and name.endswith(FEAST_RENAME_SUFFIX):
            what = f"Feast's renamed columns (ending in {FEAST_RENAME_SUFFIX!r})"
        if what is not None:
            raise UserError(
                f"{where}: column {name!r} collides with {what}; rename it (e.g. "
                f"'request_{name.strip('_')}') or drop it from the request file"
            )


def _check_columns(requests: pd.DataFrame, sources: list[ViewSource]) -> None:
    check_entity_columns(
        requests.columns, [feature.name for source in sources for feature in source.features]
    )


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


def _cutoff_view_query(previous: str, source: ViewSource, index: int, columns: list[str]) -> str:
    """As `_view_query`, with the created cutoff: an ASOF join takes one inequality, this needs
    two (event time and created <= t), so the matching rows (same key, in ttl, known at t) are
    ranked per request by (event time, created) and the first one is taken."""
    f, m = f"f{index}", f"m{index}"
    keys = ", ".join(f"{_quote(src)} AS {_quote(req)}" for src, req in source.join_keys.items())
    features = ", ".join(
        f"{_quote(feature.source_column)} AS {_quote(feature.name)}" for feature in source.features
    )
    assert source.created_field is not None
    created = f"CAST({_quote(source.created_field)} AS TIMESTAMPTZ)"
    event_ts = f"CAST({_quote(source.timestamp_field)} AS TIMESTAMPTZ)"
    on = [f"q.{_quote(req)} = {f}.{_quote(req)}" for req in source.join_keys.values()]
    on.append(f"{f}.__ts <= q.{TIMESTAMP_COLUMN}")
    on.append(f"{f}.__created <= q.{TIMESTAMP_COLUMN}")  # NULL created: never known in time
    if source.ttl is not None:
        ttl_us = int(source.ttl.total_seconds() * 1_000_000)
        on.append(f"{f}.__ts + to_microseconds({ttl_us}) >= q.{TIMESTAMP_COLUMN}")
    names = [feature.name for feature in source.features]
    matched = (
        f"SELECT q.{_ROW} AS __row, {', '.join(f'{f}.{_quote(n)}' for n in names)} "
        f"FROM requests q JOIN (SELECT {keys}, {event_ts} AS __ts, {created} AS __created, "
        f"{features} FROM read_parquet({_literal(str(source.path))}) "
        f"WHERE {event_ts} IS NOT NULL) {f} ON {' AND '.join(on)} "
        f"QUALIFY row_number() OVER (PARTITION BY q.{_ROW} "
        f"ORDER BY {f}.__ts DESC, {f}.__created DESC) = 1"
    )
    selected = ", ".join(f"r.{_quote(c)}" for c in columns)
    picked = ", ".join(f"{m}.{_quote(n)} AS {_quote(n)}" for n in names)
    return (
        f"SELECT {selected}, {picked} FROM ({previous}) r "
        f"LEFT JOIN ({matched}) {m} ON r.{_ROW} = {m}.__row"
    )


def join_duckdb(
    requests: pd.DataFrame, sources: list[ViewSource], options: JoinOptions = JoinOptions()
) -> pa.Table:
    """Point-in-time features for REQUESTS by ASOF joins over the views' parquet files
    (ranked range joins with the created cutoff)."""
    import duckdb  # here, not at the top: 0.2 s the sorted engine and predict do not need

    _check_columns(requests, sources)
    table = pa.Table.from_pandas(requests, preserve_index=False)
    table = table.append_column(_ROW, pa.array(np.arange(table.num_rows, dtype=np.int64)))
    config: dict[str, str | bool | int | float | list[str]] = {
        "memory_limit": options.duckdb_memory_limit
    }
    if options.duckdb_threads:
        config["threads"] = options.duckdb_threads
    with duckdb.connect(config=config) as con:
        con.execute("SET TimeZone = 'UTC'")
        con.register("requests", table)
        columns = list(table.column_names)
        query = "SELECT * FROM requests"
        for index, source in enumerate(sources):
            if options.created_cutoff and source.created_field:
                query = _cutoff_view_query(query, source, index, columns)
            else:
                query = _view_query(query, source, index, columns)
            columns += [feature.name for feature in source.features]
        joined = con.sql(query).to_arrow_table()
    # The join does not keep the request order; put every row back where it came from.
    order = np.empty(joined.num_rows, dtype=np.int64)
    order[joined.column(_ROW).to_numpy()] = np.arange(joined.num_rows, dtype=np.int64)
    joined = joined.take(pa.array(order)).drop_columns([_ROW])
    return _finish(joined, requests, sources)


_MIN_INT64 = np.iinfo(np.int64).min
_KEY_LIMIT = 2**62  # search keys stay below this, far from int64 overflow


def _as_micros(values: pa.ChunkedArray | pa.Array) -> np.ndarray:
    """UTC epoch microseconds (naive times are UTC, as in Feast), the precision DuckDB uses;
    nulls become the smallest int64 (they sort first, like NULLs in Feast's DESC order)."""
    micros = pc.cast(pc.cast(values, pa.timestamp("us", tz="UTC"), safe=False), pa.int64())
    if micros.null_count:
        micros = pc.fill_null(micros, _MIN_INT64)
    return np.asarray(micros)


def _as_int64(values: pa.ChunkedArray) -> np.ndarray:
    """Integer ids as int64 (nulls as 0: the caller drops those rows), never via float."""
    if values.null_count:
        values = pc.fill_null(values, 0)
    return np.asarray(pc.cast(values, pa.int64()))


def _group_ids(ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Sorted distinct ids and each row's index among them (cheap if IDS are ordered)."""
    if np.all(ids[1:] >= ids[:-1]):
        starts = np.flatnonzero(ids[1:] != ids[:-1]) + 1
        group = np.zeros(len(ids), dtype=np.int64)
        group[starts] = 1
        return ids[np.r_[0, starts]], np.cumsum(group)
    distinct, group = np.unique(ids, return_inverse=True)
    return distinct, group.astype(np.int64)


def _slots(
    row_ids: np.ndarray, ids: np.ndarray, stride: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A slot per feature row and per request (equal slots: equal ids), and which request
    ids occur in the rows. Dense ids use id - min(id) (no grouping pass); ids too sparse for
    slot * STRIDE to fit use the index among the distinct ids."""
    low, high = int(row_ids.min()), int(row_ids.max())
    if (high - low + 1) * stride < _KEY_LIMIT:
        # A request id outside [low, high] gets a valid slot but is not known; one inside
        # without rows finds a row of another slot, which the caller rejects.
        return row_ids - low, np.clip(ids, low, high) - low, (ids >= low) & (ids <= high)
    distinct, group = _group_ids(row_ids)
    if len(distinct) * stride >= _KEY_LIMIT:
        raise OverflowError
    request_group = np.minimum(np.searchsorted(distinct, ids), len(distinct) - 1)
    return group, request_group, distinct[request_group] == ids


def _latest_rows(
    stats: pa.Table,
    source: ViewSource,
    ids: np.ndarray,
    times: np.ndarray,
    created_cutoff: bool = False,
) -> pa.Array | None:
    """For each request (IDS, TIMES in µs), the index in STATS of its point-in-time row, null
    if none; None if the search key would overflow int64 or the CREATED_CUTOFF needs more than
    `CUTOFF_MAX_STEPS` steps back (the caller then uses DuckDB).

    Rows are keyed slot * stride + time offset (slot: see `_slots`), ordered by (key,
    created); a request's key is searched with side="right", so the last row at or before its
    time wins, the latest created among equal times. Finding a row of another slot means the
    id has no row yet.
    """
    [source_key] = source.join_keys
    id_column, time_column = stats.column(source_key), stats.column(source.timestamp_field)
    rows: np.ndarray | None = None  # position in STATS of each kept row; None: all, in order
    if id_column.null_count or time_column.null_count:
        usable = pc.and_(pc.is_valid(id_column), pc.is_valid(time_column))
        rows = np.flatnonzero(usable.to_numpy(zero_copy_only=False))
    if len(ids) == 0 or (rows is not None and len(rows) == 0) or stats.num_rows == 0:
        return pa.nulls(len(ids), pa.int64())
    row_ids, row_times = _as_int64(id_column), _as_micros(time_column)
    created = _as_micros(stats.column(source.created_field)) if source.created_field else None
    known_at: np.ndarray | None = None  # with the cutoff: when each row became known (µs)
    if created_cutoff and created is not None:
        known_at = created.copy()
        known_at[created == _MIN_INT64] = np.iinfo(np.int64).max  # no created time: never
    if rows is not None:
        row_ids, row_times = row_ids[rows], row_times[rows]
        created = None if created is None else created[rows]
        known_at = None if known_at is None else known_at[rows]
    t_min, t_max = int(row_times.min()), int(row_times.max())
    if max(-t_min, t_max) >= _KEY_LIMIT // 2:  # beyond +-73,000 years: sums below could wrap
        return None
    stride = t_max - t_min + 2  # offsets: 0 = before every row, 1 .. t_max - t_min + 1
    try:
        key, request_slot, known = _slots(row_ids, ids, stride)  # key: a fresh array of slots
    except OverflowError:
        return None
    # key = slot * stride + row_times - t_min + 1, built in place (7M rows: passes count);
    # every partial sum stays within +-(2**62 + 2**61), inside int64
    key *= stride
    key += row_times
    key -= t_min - 1
    del row_times
    unordered = bool(np.less(key[1:], key[:-1]).any())
    if not unordered and created is not None:
        ties = np.flatnonzero(np.equal(key[1:], key[:-1]))
        unordered = bool((created[ties + 1] < created[ties]).any())
    if unordered:
        order = (
            np.lexsort((created, key)) if created is not None else np.argsort(key, kind="stable")
        )
        key = key[order]
        known_at = None if known_at is None else known_at[order]
        rows = order if rows is None else rows[order]
    del created
    request_key = request_slot * stride + (np.clip(times, t_min - 1, t_max) - (t_min - 1))
    by_key = np.argsort(request_key)  # sorted queries search much faster (cache locality)
    position = np.empty(len(ids), dtype=np.int64)
    position[by_key] = np.searchsorted(key, request_key[by_key], side="right") - 1
    if known_at is not None and not _step_back_to_known(
        position, key, known_at, request_slot, times, stride, t_min, source
    ):
        return None
    safe = np.maximum(position, 0)
    found_key = key[safe]
    found_slot = found_key // stride
    valid = known & (position >= 0) & (found_slot == request_slot)
    if source.ttl is not None:
        found_time = found_key - found_slot * stride + (t_min - 1)
        valid &= found_time + int(source.ttl.total_seconds() * 1_000_000) >= times
    return pa.array(safe if rows is None else rows[safe], mask=~valid)


def _step_back_to_known(
    position: np.ndarray,
    key: np.ndarray,
    known: np.ndarray,
    request_slot: np.ndarray,
    times: np.ndarray,
    stride: int,
    t_min: int,
    source: ViewSource,
) -> bool:
    """Move each request's POSITION back while its row (same slot, in ttl) was created after
    the request time: rows are ordered by (event time, created), so the first row known in time
    met on the way back is the latest (event time, created) among the known ones. False if some
    request needs more than `CUTOFF_MAX_STEPS` steps (hand-written: numpy has no "previous
    element satisfying a per-query condition"; each step touches only the requests still
    stepping)."""
    ttl_us = None if source.ttl is None else int(source.ttl.total_seconds() * 1_000_000)

    def still_stepping(requests: np.ndarray) -> np.ndarray:
        at = position[requests]
        safe = np.maximum(at, 0)
        found_key = key[safe]
        found_slot = found_key // stride
        stepping = (at >= 0) & (found_slot == request_slot[requests])
        stepping &= known[safe] > times[requests]
        if ttl_us is not None:  # past ttl: every earlier row is too, the answer is null
            stepping &= found_key - found_slot * stride + (t_min - 1) + ttl_us >= times[requests]
        return requests[stepping]

    pending = still_stepping(np.arange(len(position)))
    for _ in range(CUTOFF_MAX_STEPS):
        if not len(pending):
            return True
        position[pending] -= 1
        pending = still_stepping(pending)
    if len(pending):
        logger.info("%d requests step back past more rows than the bound", len(pending))
    return not len(pending)


def read_views(sources: list[ViewSource]) -> list[pa.Table]:
    """The columns of each view's source that the sorted engine needs (read whatever the
    join keys; a view the sorted search cannot take goes to DuckDB, which reads its files)."""
    tables = []
    for source in sources:
        columns = [*source.join_keys, source.timestamp_field]
        columns += [source.created_field] if source.created_field else []
        columns += [f.source_column for f in source.features if f.source_column not in columns]
        # memory_map: pages come straight from the page cache, no copy into fresh buffers
        tables.append(pq.ParquetFile(source.path, memory_map=True).read(columns=columns))
    return tables


def join_sorted(
    requests: pd.DataFrame,
    sources: list[ViewSource],
    options: JoinOptions = JoinOptions(),
    views: list[pa.Table] | None = None,
) -> pa.Table:
    """Point-in-time features for REQUESTS by a sorted search per view (numpy, no join).
    VIEWS: `read_views(sources)` if the caller has read them already."""
    _check_columns(requests, sources)
    if any(len(source.join_keys) != 1 for source in sources):
        logger.info("a view has a compound join key; using the duckdb engine")
        return join_duckdb(requests, sources, options)
    table = pa.Table.from_pandas(requests, preserve_index=False)
    times = _as_micros(table.column(TIMESTAMP_COLUMN))
    for source, stats in zip(sources, views or read_views(sources), strict=True):
        [request_key] = source.join_keys.values()
        ids = table.column(request_key).to_numpy().astype(np.int64, copy=False)
        index = _latest_rows(stats, source, ids, times, options.created_cutoff)
        if index is None:
            logger.info(
                "time range too wide or too many rows created after the requests for "
                "the sorted search; using the duckdb engine"
            )
            return join_duckdb(requests, sources, options)
        for feature in source.features:
            values = pc.take(stats.column(feature.source_column), index)
            table = table.append_column(feature.name, values)
    return _finish(table, requests, sources)


def join_feast(
    requests: pd.DataFrame,
    store: FeatureStore,
    service: FeatureService,
    sources: list[ViewSource],
    options: JoinOptions = JoinOptions(),
) -> pa.Table:
    """The reference: Feast's offline store `get_historical_features` for the service (the
    created cutoff is Feast's own `filter_by_created_timestamp`)."""
    import pandas as pd

    _check_columns(requests, sources)
    entity_df = requests.assign(**{_ROW: np.arange(len(requests), dtype=np.int64)})
    frame = store.get_historical_features(
        entity_df=entity_df, features=service, filter_by_created_timestamp=options.created_cutoff
    ).to_df()
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
