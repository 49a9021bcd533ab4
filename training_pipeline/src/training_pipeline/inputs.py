"""The model's inputs: what every task that fits or scores a model feeds it."""

from __future__ import annotations

import pandas as pd


def model_inputs(frame: pd.DataFrame, features: list[str]) -> pd.DataFrame:
    """The model's input columns, in the feature service's order, as float64.

    float64 everywhere (not the store's int64/float32) so the MLflow signature accepts the
    nulls a missing driver produces at serving time.
    """
    return frame[features].astype("float64")
