"""The served traffic of one window and its outcomes, read from the prediction log through its
own reader (`prediction_log.reader`), which knows the log's datasets and columns. Every read
opens only the partitions the window (plus the outcome grace period) touches, so a run costs
the same whatever the history."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import pandas as pd
from mlops_common.paths import feature_log_dir, outcomes_dir, scores_log_dir
from prediction_log import reader
from prediction_log.outcomes import outcome_range, read_outcomes, request_range


@dataclass(frozen=True)
class Window:
    """[start, end) of served traffic, in UTC."""

    start: datetime
    end: datetime

    @classmethod
    def ending_at(cls, end: datetime, minutes: int) -> Window:
        return cls(end - timedelta(minutes=minutes), end)

    @property
    def label(self) -> str:
        return f"{self.start:%Y-%m-%dT%H:%M:%S%z}/{self.end:%Y-%m-%dT%H:%M:%S%z}"


def served_rows(window: Window, features: list[str], *, scored_only: bool = True) -> pd.DataFrame:
    """One row per online request and scored candidate in WINDOW: request_id, driver_id,
    log_timestamp, model_version, score, chosen and the FEATURES as served (SCORED_ONLY=False:
    with the candidates served without features, score null)."""
    return reader.served_rows(
        scores_log_dir(),
        feature_log_dir(),
        window.start,
        window.end,
        features,
        scored_only=scored_only,
    )


def known_request_ids(window: Window, grace_seconds: int) -> set[str]:
    """The request ids an outcome arriving in WINDOW can name on time (`outcomes.request_range`),
    read from those partitions only: outcomes naming others are unknown."""
    start, end = request_range(window.start, window.end, grace_seconds)
    return reader.known_request_ids(scores_log_dir(), start, end)


def window_outcomes(window: Window, grace_seconds: int) -> pd.DataFrame:
    """The outcomes a join of WINDOW's requests can use or count (`outcomes.outcome_range`),
    read from those partitions only."""
    start, end = outcome_range(window.start, window.end, grace_seconds)
    return read_outcomes(outcomes_dir(), start, end)
