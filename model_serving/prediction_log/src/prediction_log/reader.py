"""Reads the prediction log (`prediction_log.schema`) for a time range: the predictions, the
served features, and the two joined as monitoring and training consume them.

Readers filter on the log time with parquet statistics (pyarrow datasets skip the hidden
staging folder, so a file is seen only once it is complete).
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds

from prediction_log import schema

_UTC_MICROS = pa.timestamp("us", tz="UTC")


def parquet_files(folder: Path) -> list[Path]:
    """The complete data files of a dataset folder (staged files are in a hidden subfolder)."""
    return sorted(folder.glob("*.parquet")) if folder.is_dir() else []


def _dataset(folder: Path, format_schema: pa.Schema | None = None) -> ds.Dataset:
    return ds.dataset(str(folder), format="parquet", schema=format_schema)


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
    if not parquet_files(predictions_dir):
        return schema.PREDICTIONS_SCHEMA.empty_table()
    dataset = _dataset(predictions_dir, schema.PREDICTIONS_SCHEMA)
    return dataset.to_table(filter=_time_filter(schema.LOGGED_AT, start, end))


def read_feature_log(
    features_dir: Path, start: datetime | None = None, end: datetime | None = None
) -> pa.Table | None:
    """The feature log rows Feast's logging schema holds for [START, END); None when nothing
    was logged yet."""
    if not parquet_files(features_dir):
        return None
    return _dataset(features_dir).to_table(filter=_time_filter(schema.LOG_TIMESTAMP, start, end))


def served_rows(
    predictions_dir: Path,
    features_dir: Path,
    start: datetime,
    end: datetime,
    features: list[str],
    source: str = schema.ONLINE,
) -> pd.DataFrame:
    """One row per SOURCE request and scored candidate logged in [START, END): request_id,
    driver_id, log_timestamp, model_version, score, chosen and the FEATURES as served."""
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
    predictions = predictions.filter(
        pc.and_(
            pc.equal(predictions[schema.SOURCE], source), pc.is_valid(predictions[schema.SCORE])
        )
    )
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


def known_request_ids(predictions_dir: Path) -> set[str]:
    """Every request id the prediction log holds (outcomes naming others are unknown)."""
    if not parquet_files(predictions_dir):
        return set()
    table = _dataset(predictions_dir).to_table(columns=[schema.REQUEST_ID])
    return set(pc.unique(table[schema.REQUEST_ID]).to_pylist())
