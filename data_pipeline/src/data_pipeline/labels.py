"""The collect-labels task: served dispatches whose outcome arrived become training rows.

For the requests the online service answered in the run's window (LABELS_WINDOW_HOURS up to the
run's time), the chosen driver's row of the prediction log (`prediction_log.reader`: the
features as served, the score, the model version) is joined with the dispatch's outcome by
`prediction_log.outcomes.join_outcomes`, the join monitoring uses, so late, duplicate,
unknown and mismatched outcomes are counted the same way. Each labelled dispatch is one row:
driver_id, event_timestamp (the request's time), trip_completed, request_id, model_version,
source `served` and the served features, checked with the pandera schema
(`labelled_dispatches_schema`) and written to `DATA_DIR/labelled_dispatches/`, partitioned by the
hour of the request time (`mlops_common.partitions`), one file per run and hour, new request ids
only: a re-run of the same window replaces its own files and adds nothing twice. The run reads
only the partitions its window touches: the log's for the window, the outcomes' from the
window's start to an hour past its grace period, the labels' for the window. Every outcome file
read is checked first; a malformed one stops the task with one line naming it, and nothing is
written.

Only the chosen driver of a request has an outcome (the one the champion ranked first): the
rows are what the champion selected, not a sample of all candidates (see the README on what
that selection does to training and evaluation).
"""

from __future__ import annotations

import json
import logging
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pandas as pd
import pandera.pandas as pa
import pyarrow as pa_arrow
import pyarrow.dataset as ds
from mlops_common.files import atomic_path
from mlops_common.paths import (
    feature_log_dir,
    labelled_dispatches_dir,
    outcomes_dir,
    run_dir,
    safe_name,
    scores_log_dir,
)
from prediction_log import reader
from prediction_log import schema as log
from prediction_log.outcomes import (
    TRIP_COMPLETED,
    OutcomeCounts,
    join_outcomes,
    outcome_range,
    read_outcomes,
    request_range,
)

from data_pipeline.generate import FEATURES
from data_pipeline.settings import get_label_settings
from data_pipeline.validate import UTC_NS
from mlops_common import partitions

logger = logging.getLogger(__name__)

PIPELINE = "data_pipeline"
SERVED = "served"
COLUMNS = [
    "driver_id",
    "event_timestamp",
    TRIP_COMPLETED,
    "request_id",
    "model_version",
    "source",
    *FEATURES,
]


def labelled_dispatches_schema() -> pa.DataFrameSchema:
    """Labelled dispatches: an order's columns, who served it, and the features served."""
    return pa.DataFrameSchema(
        {
            "driver_id": pa.Column("int64", pa.Check.ge(1), nullable=False),
            "event_timestamp": pa.Column(UTC_NS, nullable=False),
            TRIP_COMPLETED: pa.Column("int64", pa.Check.isin([0, 1]), nullable=False),
            "request_id": pa.Column(str, nullable=False, unique=True),
            "model_version": pa.Column(str, nullable=False),
            "source": pa.Column(str, pa.Check.eq(SERVED), nullable=False),
            "conv_rate": pa.Column("float64", pa.Check.in_range(0.0, 1.0), nullable=False),
            "acc_rate": pa.Column("float64", pa.Check.in_range(0.0, 1.0), nullable=False),
            "avg_daily_trips": pa.Column("float64", pa.Check.ge(0), nullable=False),
        },
        strict=True,
        name="labelled_dispatches",
    )


@dataclass(frozen=True)
class LabelReport:
    """What one run found and wrote (`labels.json` in the run's directory)."""

    run_id: str
    window_start: str
    window_end: str
    counts: OutcomeCounts
    already_labelled: int
    written: int
    output: str | None


def labelled_request_ids(
    folder: Path, start: datetime, end: datetime, exclude: str | None = None
) -> set[str]:
    """The request ids already labelled under FOLDER for requests of [START, END), read from
    those partitions only (EXCLUDE: the file name this run writes, which it replaces)."""

    def read(files: list[Path]) -> set[str]:
        files = [path for path in files if path.name != exclude]
        if not files:
            return set()
        table = ds.dataset([str(f) for f in files], format="parquet").to_table(
            columns=["request_id"]
        )
        return set(table.column("request_id").to_pylist())

    return partitions.read_window(folder, start, end, read)


def collect_labels(run_id: str, end: datetime) -> LabelReport:
    """Label the dispatches served in the window ending at END; write the new ones."""
    settings = get_label_settings()
    end = end if end.tzinfo else end.replace(tzinfo=UTC)
    start = end - timedelta(hours=settings.window_hours)
    # Only the partitions the window and its grace period touch, whatever the history; a
    # malformed outcome file among them is refused before anything is used.
    outcomes = read_outcomes(
        outcomes_dir(), *outcome_range(start, end, settings.grace_seconds), checked=True
    )
    served = reader.served_rows(scores_log_dir(), feature_log_dir(), start, end, FEATURES)
    chosen = served[served[log.CHOSEN].astype(bool)]
    known_ids = reader.known_request_ids(
        scores_log_dir(), *request_range(start, end, settings.grace_seconds)
    )
    joined = join_outcomes(start, end, chosen, outcomes, known_ids, settings.grace_seconds)
    name = safe_name(run_id)
    known = labelled_request_ids(labelled_dispatches_dir(), start, end, exclude=f"{name}.parquet")
    frame = joined.frame
    fresh = frame[~frame[log.REQUEST_ID].isin(known)]
    rows = pd.DataFrame(
        {
            "driver_id": fresh[log.DRIVER_ID].astype("int64"),
            "event_timestamp": pd.to_datetime(fresh[log.LOGGED_AT], utc=True).astype(UTC_NS),
            TRIP_COMPLETED: fresh[TRIP_COMPLETED].astype("int64"),
            "request_id": fresh[log.REQUEST_ID].astype(str),
            "model_version": fresh[log.MODEL_VERSION].astype(str),
            "source": SERVED,
            **{name: fresh[name].astype("float64") for name in FEATURES},
        },
        columns=COLUMNS,
    ).sort_values(["event_timestamp", "request_id"], kind="stable")
    labelled_dispatches_schema().validate(rows, lazy=True)
    output = None
    if len(rows):
        table = pa_arrow.Table.from_pandas(rows, preserve_index=False)
        partitions.append(table, labelled_dispatches_dir(), "event_timestamp", name)
        output = str(labelled_dispatches_dir())
    report = LabelReport(
        run_id=run_id,
        window_start=start.isoformat(),
        window_end=end.isoformat(),
        counts=joined.counts,
        already_labelled=len(frame) - len(fresh),
        written=len(rows),
        output=output,
    )
    report_path = run_dir(PIPELINE, run_id) / "labels.json"
    with atomic_path(report_path) as tmp:
        tmp.write_text(json.dumps(asdict(report), indent=2) + "\n")
    logger.info("labelled dispatches: %s", report)
    return report
