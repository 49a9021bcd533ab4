"""The scores every model (candidate, baseline, champion) is judged by on the held-out split."""

from __future__ import annotations

import numpy as np
from sklearn.metrics import mean_absolute_error, r2_score, roc_auc_score, root_mean_squared_error


def scores(label: np.ndarray, predicted: np.ndarray) -> dict[str, float]:
    """RMSE, MAE and R2 of the completion score against the 0/1 label, and the ROC AUC of the
    score as a ranking (what the dispatcher uses: the best driver first)."""
    label = np.asarray(label, dtype="float64")
    predicted = np.asarray(predicted, dtype="float64")
    return {
        "rmse": float(root_mean_squared_error(label, predicted)),
        "mae": float(mean_absolute_error(label, predicted)),
        "r2": float(r2_score(label, predicted)),
        "roc_auc": float(roc_auc_score(label, predicted)),
    }
