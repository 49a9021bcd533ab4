"""Outcomes of dispatches (trip completed or not, keyed by request id) joined to a window's
chosen drivers, once: duplicates, outcomes of unknown requests and late arrivals are counted
and reported, never joined twice.

Files: `DATA_DIR/outcomes/*.parquet` with request_id, driver_id, outcome_timestamp (UTC) and
trip_completed (0/1), written by `data-pipeline simulate` (or any upstream that knows).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta

import pandas as pd
import pyarrow.dataset as ds
from mlops_common.paths import outcomes_dir

from monitoring_pipeline.served import Window

OUTCOME_COLUMNS = ["request_id", "driver_id", "outcome_timestamp", "trip_completed"]


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
    frame: pd.DataFrame = field(repr=False)  # request_id, score, trip_completed


def read_outcomes() -> pd.DataFrame:
    folder = outcomes_dir()
    if not folder.is_dir() or not any(folder.glob("*.parquet")):
        return pd.DataFrame(columns=OUTCOME_COLUMNS)
    return ds.dataset(str(folder), format="parquet").to_table(columns=OUTCOME_COLUMNS).to_pandas()


def join_outcomes(
    window: Window,
    chosen: pd.DataFrame,
    outcomes: pd.DataFrame,
    known_request_ids: set[str],
    grace_seconds: int,
) -> JoinedOutcomes:
    """CHOSEN (request_id, driver_id, score: the window's chosen drivers) with their outcome.

    The earliest outcome per request counts if it arrived by the window's end plus the grace
    period; later rows of the same request are duplicates, outcomes after the cut-off are late,
    outcomes that name another driver than the chosen one are mismatches. Outcomes arriving in
    the window for requests the log never saw are unknown.
    """
    cutoff = pd.Timestamp(window.end + timedelta(seconds=grace_seconds))
    start, end = pd.Timestamp(window.start), pd.Timestamp(window.end)
    times = pd.to_datetime(outcomes["outcome_timestamp"], utc=True)
    arrived_in_window = (times >= start) & (times < end)
    unknown = int((arrived_in_window & ~outcomes["request_id"].isin(known_request_ids)).sum())
    mine = outcomes[outcomes["request_id"].isin(set(chosen["request_id"]))].copy()
    mine["outcome_timestamp"] = pd.to_datetime(mine["outcome_timestamp"], utc=True)
    mine = mine.sort_values(["request_id", "outcome_timestamp"], kind="stable")
    first = mine.drop_duplicates("request_id", keep="first")
    duplicates = len(mine) - len(first)
    late = first["outcome_timestamp"] > cutoff
    on_time = first[~late]
    merged = chosen.merge(on_time, on="request_id", suffixes=("", "_outcome"))
    mismatch = merged["driver_id"] != merged["driver_id_outcome"]
    joined = merged[~mismatch][["request_id", "score", "trip_completed"]]
    counts = OutcomeCounts(
        joined=len(joined),
        duplicates=int(duplicates),
        late=int(late.sum()),
        unknown_request=unknown,
        driver_mismatch=int(mismatch.sum()),
    )
    return JoinedOutcomes(counts, joined.reset_index(drop=True))
