"""Live accuracy of the served model: the chosen drivers' scores against the outcomes."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from prediction_log import schema as log
from sklearn.metrics import brier_score_loss, roc_auc_score

CALIBRATION_BINS = 10


@dataclass(frozen=True)
class LiveMetrics:
    outcomes: int
    positive_rate: float
    mean_score: float
    roc_auc: float
    brier: float
    calibration_error: float  # expected calibration error over score deciles


def calibration_error(label: np.ndarray, score: np.ndarray, bins: int = CALIBRATION_BINS) -> float:
    """Expected calibration error: the rows-weighted gap between the mean score and the observed
    completion rate in each score quantile bin."""
    order = np.argsort(score, kind="stable")
    total = 0.0
    for part in np.array_split(order, bins):
        if len(part):
            total += len(part) * abs(float(label[part].mean()) - float(score[part].mean()))
    return total / len(score)


def live_metrics(joined: pd.DataFrame, min_outcomes: int) -> LiveMetrics | None:
    """Metrics of JOINED (score, trip_completed), or None with too few or one-class outcomes."""
    if len(joined) < min_outcomes or joined["trip_completed"].nunique() < 2:
        return None
    label = joined["trip_completed"].to_numpy(dtype="int64")
    score = joined[log.SCORE].to_numpy(dtype="float64")
    return LiveMetrics(
        outcomes=len(joined),
        positive_rate=float(label.mean()),
        mean_score=float(score.mean()),
        roc_auc=float(roc_auc_score(label, score)),
        brier=float(brier_score_loss(label, np.clip(score, 0, 1))),
        calibration_error=calibration_error(label, score),
    )
