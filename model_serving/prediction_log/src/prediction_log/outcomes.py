"""Outcomes of dispatches (trip completed or not, keyed by request id), the feedback on the
prediction log, and their one join to the log's chosen drivers: duplicates, outcomes of unknown
requests, late arrivals and outcomes naming another driver are counted and reported, never
joined twice. Monitoring judges the live model with it; label collection turns it into
training rows.

Files: `DATA_DIR/outcomes/*.parquet` (`OUTCOME_SCHEMA`), written by `data-pipeline simulate` or
any upstream that knows how a trip ended.
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

from prediction_log import schema
from prediction_log.reader import parquet_files

OUTCOME_TIMESTAMP = "outcome_timestamp"
TRIP_COMPLETED = "trip_completed"
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


def read_outcomes(folder: Path, *, checked: bool = False) -> pd.DataFrame:
    """Every outcome under FOLDER (empty when none); CHECKED: each file checked first
    (`check_outcome_file`), so a malformed file stops the reader before anything is used."""
    files = parquet_files(folder)
    if not files:
        return OUTCOME_SCHEMA.empty_table().to_pandas()
    if checked:
        for path in files:
            check_outcome_file(path)
    dataset = ds.dataset([str(f) for f in files], format="parquet", schema=OUTCOME_SCHEMA)
    return dataset.to_table(columns=OUTCOME_SCHEMA.names).to_pandas()


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
