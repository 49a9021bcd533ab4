"""Reading and validating a batch request file (entity rows: join keys and a request time).

Every problem a user can cause in the file ends in one `UserError` naming the file, the column
and an offending example, before anything is joined or written.
"""

from __future__ import annotations

import logging
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from feature_store.feast_internals import ENTITY_TIMESTAMP_COLUMN
from mlops_common.errors import UserError

logger = logging.getLogger(__name__)

# Feast's name for the request time of an entity row; the offline store joins "as of" it.
TIMESTAMP_COLUMN = ENTITY_TIMESTAMP_COLUMN
SUPPORTED_SUFFIXES = (".parquet", ".pq", ".csv")


def load_requests(path: Path, join_keys: list[str]) -> pd.DataFrame:
    """The request rows of PATH (csv or parquet), validated: integer JOIN_KEYS (int64) and
    a UTC `event_timestamp` (naive times are taken as UTC). Other columns are kept as they are.
    """
    frame = _read(path)
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
            # Strings first: the validation below reports bad values instead of guessing types.
            return pd.read_csv(path, dtype=str, keep_default_na=False, na_values=[""])
        return pq.ParquetFile(path).read().to_pandas()
    except (pa.ArrowException, pd.errors.ParserError, pd.errors.EmptyDataError, OSError) as exc:
        raise UserError(f"request file {path} cannot be read as {suffix[1:]}: {exc}") from exc


def _first_bad(values: pd.Series, bad: pd.Series) -> str:
    position = int(bad.to_numpy().nonzero()[0][0])
    return f"{values.iloc[position]!r} (row {position + 1}, {int(bad.sum())} bad rows in all)"


def _integer_column(path: Path, values: pd.Series) -> pd.Series:
    name = values.name
    if values.isna().any():
        raise UserError(
            f"request file {path}: column {name!r} has missing values, e.g. "
            f"{_first_bad(values, values.isna())}; every request needs an integer id"
        )
    if pd.api.types.is_integer_dtype(values.dtype):
        return values.astype("int64")
    numbers = pd.to_numeric(values, errors="coerce")
    bad = numbers.isna() | (numbers.round() != numbers)
    if pd.api.types.is_bool_dtype(values.dtype) or bad.any():
        raise UserError(
            f"request file {path}: column {name!r} must hold integer ids, found e.g. "
            f"{_first_bad(values, bad if bad.any() else values.notna())}"
        )
    return numbers.astype("int64")


def _timestamp_column(path: Path, values: pd.Series) -> pd.Series:
    name = values.name
    if values.isna().any():
        raise UserError(
            f"request file {path}: column {name!r} has missing values, e.g. "
            f"{_first_bad(values, values.isna())}; every request needs a time"
        )
    if isinstance(values.dtype, pd.DatetimeTZDtype):
        parsed = values.dt.tz_convert("UTC")
    elif pd.api.types.is_datetime64_dtype(values.dtype):
        parsed = values.dt.tz_localize("UTC")
    elif pd.api.types.is_object_dtype(values.dtype) or pd.api.types.is_string_dtype(values.dtype):
        parsed = pd.to_datetime(values, utc=True, format="ISO8601", errors="coerce")
        bad = parsed.isna()
        if bad.any():
            raise UserError(
                f"request file {path}: column {name!r} has values that are not ISO 8601 "
                f"timestamps, e.g. {_first_bad(values, bad)}; write e.g. 2026-11-01T08:00:00Z"
            )
    else:
        raise UserError(
            f"request file {path}: column {name!r} must hold timestamps, found type "
            f"{values.dtype} (e.g. {values.iloc[0]!r}); write e.g. 2026-11-01T08:00:00Z"
        )
    return parsed.dt.as_unit("us")
