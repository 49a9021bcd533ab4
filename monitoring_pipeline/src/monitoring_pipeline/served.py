"""The served traffic of one window, read from the prediction log through its own reader
(`prediction_log.reader`), which knows the log's datasets and columns."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import pandas as pd
from mlops_common.paths import feature_log_dir, scores_log_dir
from prediction_log import reader


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


def served_rows(window: Window, features: list[str]) -> pd.DataFrame:
    """One row per online request and scored candidate in WINDOW: request_id, driver_id,
    log_timestamp, model_version, score, chosen and the FEATURES as served."""
    return reader.served_rows(
        scores_log_dir(), feature_log_dir(), window.start, window.end, features
    )


def known_request_ids() -> set[str]:
    """Every request id the prediction log holds (outcomes naming others are unknown)."""
    return reader.known_request_ids(scores_log_dir())
