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
from feature_store.point_in_time import HAS_FEATURES, TIMESTAMP_COLUMN, check_entity_columns
from mlops_common.errors import UserError

logger = logging.getLogger(__name__)

SUPPORTED_SUFFIXES = (".parquet", ".pq", ".csv")
# Columns the batch output adds after the request columns (point_in_time, predict).
OUTPUT_COLUMNS = (HAS_FEATURES, "prediction", "model_name", "model_version", "run_id")


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
    check_entity_columns(
        columns,
        feature_names,
        where,
        reserved={name: "an output column of the batch run" for name in OUTPUT_COLUMNS},
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
