"""The maintain-datasets task: compaction and retention of the loop's partitioned datasets.

The prediction log (features and predictions), the outcomes and the labelled dispatches are
hour-partitioned parquet (`mlops_common.partitions`). Each run, for each dataset:

* compacts every hour that ended at least PREDICTION_LOG_COMPACT_AFTER_MINUTES ago into one
  file (`mlops_common.compaction`: concurrent readers see each row exactly once). A watermark
  per dataset (`<dataset>/.compacted-until`) holds the end of the last hour compacted, so a
  run looks only at the hours after it (and the hour before, for a file that arrived late);
  running again with the same time does nothing more.
* deletes the days older than the dataset's retention (PREDICTION_LOG_RETENTION_DAYS,
  PREDICTION_LOG_OUTCOMES_RETENTION_DAYS, LABELS_RETENTION_DAYS), never the current day, and
  for the labelled dispatches never a day within training's window (TRAIN_WINDOW_DAYS) before
  the newest labelled dispatch, whatever LABELS_RETENTION_DAYS says.
"""

from __future__ import annotations

import json
import logging
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from mlops_common.files import atomic_path
from mlops_common.paths import (
    feature_log_dir,
    labelled_dispatches_dir,
    outcomes_dir,
    run_dir,
    scores_log_dir,
)
from prediction_log import schema as log
from prediction_log.outcomes import OUTCOME_TIMESTAMP
from prediction_log.settings import get_prediction_log_settings

from data_pipeline.settings import get_label_settings, get_training_window_settings
from mlops_common import compaction, partitions

logger = logging.getLogger(__name__)

PIPELINE = "data_pipeline"
WATERMARK = ".compacted-until"


@dataclass(frozen=True)
class Dataset:
    name: str
    folder: Path
    time_column: str
    retention_days: float


@dataclass(frozen=True)
class Maintenance:
    """What one run did to one dataset."""

    dataset: str
    compacted_hours: int
    files_before: int
    rows: int
    expired_days: list[str]


def datasets() -> list[Dataset]:
    """The four datasets with their time column and retention (settings)."""
    log_settings = get_prediction_log_settings()
    return [
        Dataset("features", feature_log_dir(), log.LOG_TIMESTAMP, log_settings.retention_days),
        Dataset("predictions", scores_log_dir(), log.LOGGED_AT, log_settings.retention_days),
        Dataset(
            "outcomes", outcomes_dir(), OUTCOME_TIMESTAMP, log_settings.outcomes_retention_days
        ),
        Dataset(
            "labelled_dispatches",
            labelled_dispatches_dir(),
            "event_timestamp",
            get_label_settings().retention_days,
        ),
    ]


def read_watermark(folder: Path) -> datetime | None:
    """The end of the last hour compacted in FOLDER; None before the first compaction."""
    path = folder / WATERMARK
    if not path.is_file():
        return None
    return datetime.fromisoformat(json.loads(path.read_text())["compacted_until"])


def write_watermark(folder: Path, until: datetime) -> None:
    with atomic_path(folder / WATERMARK) as tmp:
        tmp.write_text(json.dumps({"compacted_until": until.isoformat()}) + "\n")


def keep_from_labels(folder: Path, now: datetime, retention_days: float) -> datetime:
    """The oldest time the labelled dispatches keep: the retention's, or earlier when training's
    window before the newest labelled dispatch reaches further back."""
    keep = now - timedelta(days=retention_days)
    newest = compaction.newest_hour(folder)
    if newest is not None:
        window = timedelta(days=get_training_window_settings().window_days)
        keep = min(keep, newest + partitions.HOUR - window)
    return keep


def maintain_dataset(dataset: Dataset, now: datetime) -> Maintenance:
    """Compact DATASET's closed hours after its watermark; expire its old days."""
    lag = timedelta(minutes=get_prediction_log_settings().compact_after_minutes)
    closed_before = partitions.hour_floor(now - lag)
    watermark = read_watermark(dataset.folder)
    since = None if watermark is None else watermark - partitions.HOUR
    done = compaction.compact(dataset.folder, closed_before, dataset.time_column, since=since)
    if dataset.folder.is_dir() and (watermark is None or closed_before > watermark):
        write_watermark(dataset.folder, closed_before)
    if dataset.name == "labelled_dispatches":
        keep = keep_from_labels(dataset.folder, now, dataset.retention_days)
    else:
        keep = now - timedelta(days=dataset.retention_days)
    expired = compaction.expire(dataset.folder, partitions.hour_floor(keep).date(), now)
    return Maintenance(
        dataset=dataset.name,
        compacted_hours=len(done),
        files_before=sum(c.files_before for c in done),
        rows=sum(c.rows for c in done),
        expired_days=expired,
    )


def maintain_datasets(run_id: str, now: datetime) -> list[Maintenance]:
    """Compaction and retention of every dataset at NOW; the report is written to the run's
    directory (`maintenance.json`)."""
    now = now if now.tzinfo else now.replace(tzinfo=UTC)
    results = [maintain_dataset(dataset, now) for dataset in datasets()]
    path = run_dir(PIPELINE, run_id) / "maintenance.json"
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps([asdict(r) for r in results], indent=2) + "\n")
    for result in results:
        logger.info("maintenance: %s", result)
    return results
