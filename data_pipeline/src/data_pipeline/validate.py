"""Validate a raw batch and only then publish it as the offline store.

`ingest` writes a run's raw files to `run_dir/raw`; `validate_and_publish` checks every file
(schema, dtypes, ranges, nulls, timezone-aware UTC timestamps, duplicate statistics keys) and
copies them over the published paths only when all of them pass, each with an atomic rename.
A bad batch therefore never replaces the offline store the feature store reads.

Files are read in record batches, so a 7 M-row offline store validates in bounded memory;
the duplicate-key check runs in DuckDB over the whole file.
"""

from __future__ import annotations

import logging
import shutil
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path

import duckdb
import pandas as pd
import pandera.pandas as pa
import pyarrow as pa_arrow
import pyarrow.parquet as pq
from mlops_common.errors import UserError
from mlops_common.files import atomic_path, write_json

from data_pipeline.run_files import raw_dir, validation_report_path
from data_pipeline.settings import get_data_settings

logger = logging.getLogger(__name__)

BATCH_ROWS = 500_000
MAX_EXAMPLES = 3
UTC_NS = pd.DatetimeTZDtype("ns", "UTC")


def _timestamp() -> pa.Column:
    """A timezone-aware UTC timestamp: naive or other-zone times fail the dtype check."""
    return pa.Column(UTC_NS, nullable=False)


def driver_stats_schema() -> pa.DataFrameSchema:
    """The offline store's contract (the Feast feature view reads these columns)."""
    return pa.DataFrameSchema(
        {
            "driver_id": pa.Column("int64", pa.Check.ge(1), nullable=False),
            "event_timestamp": _timestamp(),
            "created": _timestamp(),
            "conv_rate": pa.Column("float32", pa.Check.in_range(0.0, 1.0), nullable=False),
            "acc_rate": pa.Column("float32", pa.Check.in_range(0.0, 1.0), nullable=False),
            "avg_daily_trips": pa.Column("int64", pa.Check.ge(0), nullable=False),
        },
        strict=True,
        name="driver_stats",
    )


def requests_schema(*, labelled: bool) -> pa.DataFrameSchema:
    """Orders (labelled) and batch requests: who and when, plus the 0/1 label for orders."""
    columns = {
        "driver_id": pa.Column("int64", pa.Check.ge(1), nullable=False),
        "event_timestamp": _timestamp(),
    }
    if labelled:
        columns["trip_completed"] = pa.Column("int64", pa.Check.isin([0, 1]), nullable=False)
    return pa.DataFrameSchema(columns, strict=True, name="orders" if labelled else "batch_requests")


@dataclass(frozen=True)
class DatasetSpec:
    """One file of a batch: its name, contract and the columns that must be unique together."""

    name: str
    schema: pa.DataFrameSchema
    unique_key: tuple[str, ...] = ()


def dataset_specs() -> list[DatasetSpec]:
    """The files of one batch, under their published names."""
    settings = get_data_settings()
    return [
        DatasetSpec(
            settings.driver_stats_path.name,
            driver_stats_schema(),
            ("driver_id", "event_timestamp"),
        ),
        DatasetSpec(settings.orders_path.name, requests_schema(labelled=True)),
        DatasetSpec(settings.batch_requests_path.name, requests_schema(labelled=False)),
    ]


@dataclass
class Problem:
    """One failed check: where, what, on how many rows, with a few offending values."""

    file: str
    column: str
    check: str
    rows: int
    examples: list[str] = field(default_factory=list)

    def describe(self) -> str:
        count = f": {self.rows} rows" if self.rows else ""
        shown = f" (e.g. {', '.join(self.examples)})" if self.examples else ""
        return f"{self.file}: {self.column} {self.check}{count}{shown}"


def _batches(path: Path) -> Iterator[pd.DataFrame]:
    """The file as pandas frames of BATCH_ROWS rows; tz-aware timestamps unified to ns."""
    for batch in pq.ParquetFile(path).iter_batches(batch_size=BATCH_ROWS):
        columns = []
        for column in batch.columns:
            kind = column.type
            if pa_arrow.types.is_timestamp(kind) and kind.tz is not None and kind.unit != "ns":
                column = column.cast(pa_arrow.timestamp("ns", tz=kind.tz))
            columns.append(column)
        yield pa_arrow.RecordBatch.from_arrays(columns, names=batch.schema.names).to_pandas()


def _merge(problems: dict[tuple[str, str], Problem], found: Problem) -> None:
    key = (found.column, found.check)
    if key not in problems:
        problems[key] = found
        return
    known = problems[key]
    known.rows += found.rows
    for example in found.examples:
        if len(known.examples) < MAX_EXAMPLES and example not in known.examples:
            known.examples.append(example)


def _schema_problems(
    name: str, frame: pd.DataFrame, error: pa.errors.SchemaErrors
) -> list[Problem]:
    cases = error.failure_cases
    found: list[Problem] = []
    for (column, check), group in cases.groupby(["column", "check"], dropna=False, sort=False):
        column_name = str(column) if pd.notna(column) else "(table)"
        if str(check).startswith("dtype(") or group["index"].isna().all():
            # Column-level failure (wrong dtype, missing or unexpected column): every row.
            if str(check).startswith("dtype(") and column in frame.columns:
                examples = [f"found {frame[column].dtype}"]
            else:
                examples = [str(v) for v in group["failure_case"].astype(str).unique()[:1]]
            found.append(Problem(name, column_name, str(check), len(frame), examples))
            continue
        rows = group["index"].dropna().nunique()
        examples = [str(v) for v in group["failure_case"].astype(str).unique()[:MAX_EXAMPLES]]
        found.append(Problem(name, column_name, str(check), int(rows), examples))
    return found


def _duplicate_problem(name: str, path: Path, key: tuple[str, ...]) -> Problem | None:
    columns = ", ".join(f'"{c}"' for c in key)
    with duckdb.connect() as con:
        described = con.execute("DESCRIBE SELECT * FROM read_parquet(?)", [str(path)])
        available = {row[0] for row in described.fetchall()}
        if not set(key) <= available:
            return None  # the schema check reports the missing column
        duplicates = con.execute(
            f"SELECT {columns}, count(*) AS n FROM read_parquet(?) GROUP BY ALL HAVING n > 1 "
            f"ORDER BY n DESC, {columns}",
            [str(path)],
        ).fetchall()
    if not duplicates:
        return None
    rows = sum(int(row[-1]) for row in duplicates)
    examples = [str(tuple(str(v) for v in row[:-1])) for row in duplicates[:MAX_EXAMPLES]]
    return Problem(name, "+".join(key), "unique key", rows, examples)


def validate_file(path: Path, spec: DatasetSpec) -> list[Problem]:
    """Every check of SPEC against the parquet file at PATH; an empty list means it passed."""
    if not path.is_file():
        return [Problem(spec.name, "(file)", f"missing at {path}", 0)]
    try:
        total = pq.ParquetFile(path).metadata.num_rows
    except (OSError, pa_arrow.ArrowException) as exc:
        return [Problem(spec.name, "(file)", f"not readable parquet: {str(exc)[:200]}", 0)]
    if total == 0:
        return [Problem(spec.name, "(table)", "has no rows", 0)]
    problems: dict[tuple[str, str], Problem] = {}
    offset = 0
    for frame in _batches(path):
        frame.index = pd.RangeIndex(offset, offset + len(frame))
        offset += len(frame)
        try:
            spec.schema.validate(frame, lazy=True)
        except pa.errors.SchemaErrors as error:
            for found in _schema_problems(spec.name, frame, error):
                _merge(problems, found)
    if spec.unique_key:
        duplicate = _duplicate_problem(spec.name, path, spec.unique_key)
        if duplicate is not None:
            _merge(problems, duplicate)
    return list(problems.values())


def published_paths() -> dict[str, Path]:
    """The published (validated) file for each dataset name."""
    settings = get_data_settings()
    return {
        path.name: path
        for path in (settings.driver_stats_path, settings.orders_path, settings.batch_requests_path)
    }


def validate_and_publish(run_id: str) -> dict[str, Path]:
    """Validate the run's raw batch; if every file passes, publish it (atomically per file).

    Raises UserError naming each failed check (column, check, offending rows, examples) and
    leaves the published files untouched. Writes `validation_report.json` to the run dir.
    """
    source = raw_dir(run_id)
    report_path = validation_report_path(run_id)
    problems: list[Problem] = []
    for spec in dataset_specs():
        problems += validate_file(source / spec.name, spec)
    write_json(
        report_path,
        {"run_id": run_id, "passed": not problems, "problems": [asdict(p) for p in problems]},
    )
    if problems:
        raise UserError(
            f"the batch in {source} failed validation, nothing was published: "
            + "; ".join(p.describe() for p in problems)
            + f". Fix the producer and re-run ingest (report: {report_path})"
        )
    published = {}
    for name, target in published_paths().items():
        with atomic_path(target) as tmp:
            shutil.copyfile(source / name, tmp)
        published[name] = target
        logger.info("published %s", target)
    summary = source / "generation_summary.json"
    if summary.is_file():
        with atomic_path(get_data_settings().driver_stats_path.with_name(summary.name)) as tmp:
            shutil.copyfile(summary, tmp)
    return published
