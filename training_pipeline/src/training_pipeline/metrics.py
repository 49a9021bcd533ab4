"""The scores every model (candidate, baseline, champion) is judged by on the held-out split."""

from __future__ import annotations

import numpy as np
from sklearn.metrics import brier_score_loss, log_loss, roc_auc_score


def scores(label: np.ndarray, probability: np.ndarray) -> dict[str, float]:
    """The ROC AUC of the probability of completion as a ranking (what the dispatcher uses:
    the best driver first), and how good it is as a probability: log loss and Brier score."""
    label = np.asarray(label, dtype="int64")
    probability = np.asarray(probability, dtype="float64")
    return {
        "roc_auc": float(roc_auc_score(label, probability)),
        "log_loss": float(log_loss(label, probability, labels=[0, 1])),
        "brier": float(brier_score_loss(label, probability, labels=[0, 1])),
    }
