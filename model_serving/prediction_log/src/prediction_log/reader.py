"""Reads the prediction log (`prediction_log.schema`) for a time range: the predictions, the
served features, and the two joined as monitoring and training consume them.

Readers open only the hour partitions their time range touches (`mlops_common.partitions`),
then filter on the log time with parquet statistics; staged files are never seen, and a file
replaced by a compaction while a read was under way makes the read list its files again.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds

from mlops_common import partitions
from prediction_log import schema

_UTC_MICROS = pa.timestamp("us", tz="UTC")


def parquet_files(
    folder: Path, start: datetime | None = None, end: datetime | None = None
) -> list[Path]:
    """The complete, visible data files of a dataset folder whose partitions [START, END)
    touches (all when open): `partitions.dataset_files`."""
    return partitions.dataset_files(folder, start, end)


def _read(
    folder: Path,
    start: datetime | None,
    end: datetime | None,
    *,
    format_schema: pa.Schema | None = None,
    columns: list[str] | None = None,
    filter: ds.Expression | None = None,
) -> pa.Table | None:
    """The rows of FOLDER's files in the partitions of [START, END) matching FILTER; None when
    there is no file."""

    def read(files: list[Path]) -> pa.Table | None:
        if not files:
            return None
        dataset = ds.dataset([str(f) for f in files], format="parquet", schema=format_schema)
        return dataset.to_table(columns=columns, filter=filter)

    return partitions.read_window(folder, start, end, read)


def _time_filter(column: str, start: datetime | None, end: datetime | None) -> ds.Expression | None:
    """[START, END) on COLUMN (either bound may be open)."""
    condition: ds.Expression | None = None
    if start is not None:
        condition = ds.field(column) >= pa.scalar(start, _UTC_MICROS)
    if end is not None:
        before = ds.field(column) < pa.scalar(end, _UTC_MICROS)
        condition = before if condition is None else condition & before
    return condition


def read_predictions(
    predictions_dir: Path, start: datetime | None = None, end: datetime | None = None
) -> pa.Table:
    """The prediction rows logged in [START, END) (all when open); empty when none."""
    table = _read(
        predictions_dir,
        start,
        end,
        format_schema=schema.PREDICTIONS_SCHEMA,
        filter=_time_filter(schema.LOGGED_AT, start, end),
    )
    return schema.PREDICTIONS_SCHEMA.empty_table() if table is None else table


def read_feature_log(
    features_dir: Path, start: datetime | None = None, end: datetime | None = None
) -> pa.Table | None:
    """The feature log rows Feast's logging schema holds for [START, END); None when nothing
    was logged yet."""
    return _read(features_dir, start, end, filter=_time_filter(schema.LOG_TIMESTAMP, start, end))


def served_rows(
    predictions_dir: Path,
    features_dir: Path,
    start: datetime,
    end: datetime,
    features: list[str],
    source: str = schema.ONLINE,
    *,
    scored_only: bool = True,
) -> pd.DataFrame:
    """One row per SOURCE request and scored candidate logged in [START, END): request_id,
    driver_id, log_timestamp, model_version, score, chosen and the FEATURES as served.
    SCORED_ONLY=False keeps the candidates the service found no features for too (score and
    features null)."""
    columns = [
        schema.REQUEST_ID,
        schema.DRIVER_ID,
        schema.LOGGED_AT,
        schema.MODEL_VERSION,
        schema.SCORE,
        schema.CHOSEN,
    ]
    empty = pd.DataFrame(columns=[*columns, *features])
    predictions = read_predictions(predictions_dir, start, end)
    keep = pc.equal(predictions[schema.SOURCE], source)
    if scored_only:
        keep = pc.and_(keep, pc.is_valid(predictions[schema.SCORE]))
    predictions = predictions.filter(keep)
    logged = read_feature_log(features_dir, start, end) if predictions.num_rows else None
    if logged is None:
        return empty
    names = logged.column_names
    renamed: dict[str, str] = {
        schema.LOG_REQUEST_ID: schema.REQUEST_ID,
        schema.DRIVER_ID: schema.DRIVER_ID,
    }
    for feature in features:
        matches = [n for n in names if n.endswith(schema.feature_column("", feature))]
        if len(matches) != 1:
            raise KeyError(f"the feature log has no single column for feature {feature!r}")
        renamed[matches[0]] = feature
    served = logged.select(list(renamed)).rename_columns(list(renamed.values())).to_pandas()
    # A caller that reuses a request id would make the join ambiguous: each (request,
    # driver) counts once, and each request keeps one chosen driver.
    keys = [schema.REQUEST_ID, schema.DRIVER_ID]
    served = served.drop_duplicates(keys)
    scored = predictions.select(columns).to_pandas().drop_duplicates(keys)
    chosen = scored[schema.CHOSEN].astype(bool)
    again = scored[chosen].duplicated(schema.REQUEST_ID).reindex(scored.index, fill_value=False)
    scored.loc[chosen & again, schema.CHOSEN] = False
    frame = scored.merge(served, on=keys, how="inner", validate="one_to_one")
    return frame.reset_index(drop=True)


def known_request_ids(
    predictions_dir: Path, start: datetime | None = None, end: datetime | None = None
) -> set[str]:
    """The request ids logged in [START, END) (all when open): outcomes naming others are
    unknown. Read from the partitions of that range only."""
    table = _read(
        predictions_dir,
        start,
        end,
        columns=[schema.REQUEST_ID],
        filter=_time_filter(schema.LOGGED_AT, start, end),
    )
    if table is None:
        return set()
    return set(pc.unique(table[schema.REQUEST_ID]).to_pylist())
