"""Reading and validating a batch request file (entity rows: join keys and a request time).

Every problem a user can cause in the file ends in one `UserError` naming the file, the column
and an offending example, before anything is joined or written.
"""

from __future__ import annotations

import csv
import logging
from collections.abc import Iterable
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from feature_store.entity_rows import exact_ids, exact_times
from feature_store.feast_internals import ENTITY_TIMESTAMP_COLUMN
from mlops_common.errors import UserError

logger = logging.getLogger(__name__)

# Feast's name for the request time of an entity row; the offline store joins "as of" it.
TIMESTAMP_COLUMN = ENTITY_TIMESTAMP_COLUMN
SUPPORTED_SUFFIXES = (".parquet", ".pq", ".csv")
# The join's own row number (it puts rows back in request order).
REQUEST_ROW = "__request_row"
# Columns the batch output adds after the request columns (point_in_time, predict).
OUTPUT_COLUMNS = ("has_features", "prediction", "model_name", "model_version", "run_id")
# Columns Feast's offline store adds to the entity rows while it joins
# (`feast.infra.offline_stores.ibis.point_in_time_join`): a request column of the same name
# breaks or silently changes its join. It also renames request columns that share a name with
# a column of the feature file to `<name>_y` (and `<name>_yyyy`): a request column ending in
# `_y` can collide with those ("Name collisions: {'driver_id_y'}").
FEAST_INTERNAL_COLUMNS = ("entity_row_id", "event_expire_timestamp", "rn")
FEAST_RENAME_SUFFIX = "_y"


def load_requests(path: Path, join_keys: list[str]) -> pd.DataFrame:
    """The request rows of PATH (csv or parquet), validated: integer JOIN_KEYS (int64, read
    exactly) and a UTC `event_timestamp` read exactly row by row (naive times are UTC; see
    `feature_store.entity_rows`). Other columns are kept as they are; none may be named like
    an output or internal column (`check_request_columns`).
    """
    frame = _read(path)
    check_request_columns(frame.columns, (), f"request file {path}")
    missing = [c for c in [*join_keys, TIMESTAMP_COLUMN] if c not in frame.columns]
    if missing:
        raise UserError(
            f"request file {path}: column {missing[0]!r} is missing (found {list(frame.columns)});"
            f" a request row needs {[*join_keys, TIMESTAMP_COLUMN]}, e.g. "
            f"{_example_row(join_keys)}"
        )
    for key in join_keys:
        frame[key] = _integer_column(path, frame[key])
    frame[TIMESTAMP_COLUMN] = _timestamp_column(path, frame[TIMESTAMP_COLUMN])
    logger.info("read %d request rows from %s", len(frame), path)
    return frame


def check_request_columns(
    columns: Iterable[object], feature_names: Iterable[str], where: str = "request rows"
) -> None:
    """A UserError if a request column would collide with a feature (FEATURE_NAMES), an
    output column or a column the engines add while joining; or if a name occurs twice."""
    names = [str(c) for c in columns]
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        raise UserError(f"{where}: column {repeated[0]!r} occurs twice; rename one of them")
    reserved = {name: "a feature of the feature service" for name in feature_names}
    reserved |= {name: "an output column of the batch run" for name in OUTPUT_COLUMNS}
    reserved |= {name: "a column the point-in-time join adds" for name in FEAST_INTERNAL_COLUMNS}
    reserved[REQUEST_ROW] = "a column the point-in-time join adds"
    for name in names:
        what = reserved.get(name)
        if what is None and name.startswith("__"):
            what = "the join's own names (starting with '__')"
        if what is None and name.endswith(FEAST_RENAME_SUFFIX):
            what = f"Feast's renamed columns (ending in {FEAST_RENAME_SUFFIX!r})"
        if what is not None:
            raise UserError(
                f"{where}: column {name!r} collides with {what}; rename it (e.g. "
                f"'request_{name.strip('_')}') or drop it from the request file"
            )


def _example_row(join_keys: list[str]) -> str:
    values = ", ".join(f"{key}=1001" for key in join_keys)
    return f"{values}, {TIMESTAMP_COLUMN}=2026-11-01T08:00:00Z"


def _read(path: Path) -> pd.DataFrame:
    suffix = path.suffix.lower()
    if suffix not in SUPPORTED_SUFFIXES:
        raise UserError(
            f"request file {path}: unknown format {suffix or '(no suffix)'!r}; "
            f"use one of {', '.join(SUPPORTED_SUFFIXES)}"
        )
    if not path.is_file():
        raise UserError(
            f"request file {path} does not exist; run the data pipeline (it writes the demo "
            "request file) or pass another file with --requests / the DAG's requests_path"
        )
    try:
        if suffix == ".csv":
            # pandas renames a repeated header ("a", "a.1") without a word: check it first.
            with path.open(newline="") as file:
                check_request_columns(next(csv.reader(file), []), (), f"request file {path}")
            # Strings first: the validation below reports bad values instead of guessing types.
            return pd.read_csv(path, dtype=str, keep_default_na=False, na_values=[""])
        table = pq.ParquetFile(path).read()
        check_request_columns(table.column_names, (), f"request file {path}")
        return table.to_pandas()
    except (
        pa.ArrowException,
        pd.errors.ParserError,
        pd.errors.EmptyDataError,
        OSError,
        UnicodeDecodeError,
    ) as exc:
        raise UserError(f"request file {path} cannot be read as {suffix[1:]}: {exc}") from exc


def _integer_column(path: Path, values: pd.Series) -> pd.Series:
    return exact_ids(values, f"request file {path}")


def _timestamp_column(path: Path, values: pd.Series) -> pd.Series:
    return exact_times(values, f"request file {path}")
