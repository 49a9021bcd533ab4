"""Outcomes of dispatches (trip completed or not, keyed by request id), the feedback on the
prediction log, and their one join to the log's chosen drivers: duplicates, outcomes of unknown
requests, late arrivals and outcomes naming another driver are counted and reported, never
joined twice. Monitoring judges the live model with it; label collection turns it into
training rows.

Files: `DATA_DIR/outcomes/date=YYYY-MM-DD/hour=HH/*.parquet` (`OUTCOME_SCHEMA`, partitioned by the
hour of the outcome time: `mlops_common.partitions`), written by `write_outcomes` from
`data-pipeline simulate` or any upstream that knows how a trip ended.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.parquet as pq
from mlops_common.errors import UserError

from mlops_common import partitions
from prediction_log import schema

OUTCOME_TIMESTAMP = "outcome_timestamp"
TRIP_COMPLETED = "trip_completed"
_UTC_MICROS = pa.timestamp("us", tz="UTC")
OUTCOME_SCHEMA = pa.schema(
    [
        (schema.REQUEST_ID, pa.string()),
        (schema.DRIVER_ID, pa.int64()),
        (OUTCOME_TIMESTAMP, pa.timestamp("us", tz="UTC")),
        (TRIP_COMPLETED, pa.int64()),
    ]
)


@dataclass(frozen=True)
class OutcomeCounts:
    joined: int = 0
    duplicates: int = 0
    late: int = 0
    unknown_request: int = 0
    driver_mismatch: int = 0


@dataclass(frozen=True)
class JoinedOutcomes:
    counts: OutcomeCounts
    # the chosen rows' columns (request_id, driver_id, score, ...) and trip_completed
    frame: pd.DataFrame = field(repr=False)


def check_outcome_file(path: Path) -> None:
    """A UserError naming PATH and the problem unless it is a readable outcome file: the
    columns of OUTCOME_SCHEMA (castable), no null, trip_completed 0 or 1."""
    try:
        table = pq.read_table(path)
    except (OSError, pa.ArrowInvalid) as exc:
        raise UserError(f"outcome file {path} is not readable parquet ({exc}); replace it") from exc
    missing = [name for name in OUTCOME_SCHEMA.names if name not in table.column_names]
    if missing:
        raise UserError(
            f"outcome file {path} lacks column(s) {missing}; an outcome file holds "
            f"{OUTCOME_SCHEMA.names}"
        )
    try:
        table = table.select(OUTCOME_SCHEMA.names).cast(OUTCOME_SCHEMA)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
        raise UserError(f"outcome file {path} has a column of the wrong type ({exc})") from exc
    nulls = [name for name in OUTCOME_SCHEMA.names if table.column(name).null_count]
    if nulls:
        raise UserError(f"outcome file {path} has empty values in {nulls}")
    labels = set(table.column(TRIP_COMPLETED).to_pylist())
    if not labels <= {0, 1}:
        raise UserError(
            f"outcome file {path}: trip_completed holds {sorted(labels - {0, 1})[:5]}; use 0 or 1"
        )


def write_outcomes(table: pa.Table, folder: Path, name: str | None = None) -> list[Path]:
    """Append TABLE (OUTCOME_SCHEMA) to the outcomes under FOLDER, partitioned by the hour of
    the outcome time, each file atomically; where the files went. A re-run with the same NAME
    replaces its files."""
    return partitions.append(table.cast(OUTCOME_SCHEMA), folder, OUTCOME_TIMESTAMP, name)


def read_outcomes(
    folder: Path,
    start: datetime | None = None,
    end: datetime | None = None,
    *,
    checked: bool = False,
) -> pd.DataFrame:
    """The outcomes under FOLDER that arrived in [START, END) (all when open; empty when none),
    read from the partitions of that range only; CHECKED: each of those files checked first
    (`check_outcome_file`), so a malformed file stops the reader before anything is used."""

    def read(files: list[Path]) -> pd.DataFrame:
        if not files:
            return OUTCOME_SCHEMA.empty_table().to_pandas()
        if checked:
            for path in files:
                check_outcome_file(path)
        dataset = ds.dataset([str(f) for f in files], format="parquet", schema=OUTCOME_SCHEMA)
        condition = None
        if start is not None:
            condition = ds.field(OUTCOME_TIMESTAMP) >= pa.scalar(start, _UTC_MICROS)
        if end is not None:
            before = ds.field(OUTCOME_TIMESTAMP) < pa.scalar(end, _UTC_MICROS)
            condition = before if condition is None else condition & before
        return dataset.to_table(columns=OUTCOME_SCHEMA.names, filter=condition).to_pandas()

    return partitions.read_window(folder, start, end, read)


def outcome_range(start: datetime, end: datetime, grace_seconds: int) -> tuple[datetime, datetime]:
    """The outcome times a join of the requests logged in [START, END) reads: from START (no
    outcome precedes its request) to one hour past the cut-off (END plus the grace period), so
    outcomes up to an hour late are still counted as late."""
    return start, end + timedelta(seconds=grace_seconds) + partitions.HOUR


def request_range(start: datetime, end: datetime, grace_seconds: int) -> tuple[datetime, datetime]:
    """The log times whose request ids tell known from unknown outcomes arriving in [START, END):
    an outcome on time arrives within the grace period after its window's end, so its request
    was logged at most one window plus the grace period before START."""
    return start - (end - start) - timedelta(seconds=grace_seconds), end


def join_outcomes(
    start: datetime,
    end: datetime,
    chosen: pd.DataFrame,
    outcomes: pd.DataFrame,
    known_request_ids: set[str],
    grace_seconds: int,
) -> JoinedOutcomes:
    """CHOSEN (the chosen drivers of the requests logged in [START, END): request_id,
    driver_id, score and any other columns) with their outcome.

    The earliest outcome per request counts if it arrived by END plus the grace period; later
    rows of the same request are duplicates, outcomes after the cut-off are late, outcomes that
    name another driver than the chosen one are mismatches. Outcomes arriving in the window for
    requests the log never saw are unknown.
    """
    request_id, driver_id = schema.REQUEST_ID, schema.DRIVER_ID
    cutoff = pd.Timestamp(end + timedelta(seconds=grace_seconds))
    times = pd.to_datetime(outcomes[OUTCOME_TIMESTAMP], utc=True)
    arrived_in_window = (times >= pd.Timestamp(start)) & (times < pd.Timestamp(end))
    unknown = int((arrived_in_window & ~outcomes[request_id].isin(known_request_ids)).sum())
    mine = outcomes[outcomes[request_id].isin(set(chosen[request_id]))].copy()
    mine[OUTCOME_TIMESTAMP] = pd.to_datetime(mine[OUTCOME_TIMESTAMP], utc=True)
    mine = mine.sort_values([request_id, OUTCOME_TIMESTAMP], kind="stable")
    first = mine.drop_duplicates(request_id, keep="first")
    duplicates = len(mine) - len(first)
    late = first[OUTCOME_TIMESTAMP] > cutoff
    on_time = first[~late]
    merged = chosen.merge(on_time, on=request_id, suffixes=("", "_outcome"))
    mismatch = merged[driver_id] != merged[f"{driver_id}_outcome"]
    joined = merged[~mismatch][[*chosen.columns, TRIP_COMPLETED]]
    counts = OutcomeCounts(
        joined=len(joined),
        duplicates=int(duplicates),
        late=int(late.sum()),
        unknown_request=unknown,
        driver_mismatch=int(mismatch.sum()),
    )
    return JoinedOutcomes(counts, joined.reset_index(drop=True))
