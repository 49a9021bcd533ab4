"""The rows drift is judged on: one per distinct (driver, served features, model version)."""

from __future__ import annotations

import numpy as np
import pandas as pd
from mlops_common.reference import REFERENCE_SCORE
from monitoring_pipeline.drift import distinct_rows

FEATURES = ["conv_rate", "acc_rate"]


def test_a_row_scored_an_ulp_apart_counts_once_and_another_version_apart() -> None:
    score = 0.3
    served = pd.DataFrame(
        {
            "request_id": ["a", "b", "c", "d"],
            "driver_id": [1001, 1001, 1001, 1002],
            "conv_rate": [0.5, 0.5, 0.5, 0.5],
            "acc_rate": [0.25, 0.25, 0.25, 0.25],
            "model_version": ["3", "3", "4", "3"],
            # the same row in two batches of one model; then a new version; then another driver
            REFERENCE_SCORE: [score, np.nextafter(score, 1.0), 0.7, score],
        }
    )
    rows = distinct_rows(served, FEATURES)
    assert rows["request_id"].tolist() == ["a", "c", "d"]
    assert rows[REFERENCE_SCORE].tolist() == [score, 0.7, score]  # the first score kept


def test_other_served_features_are_other_rows() -> None:
    served = pd.DataFrame(
        {
            "driver_id": [1001, 1001],
            "conv_rate": [0.5, 0.6],  # materialized again between the requests
            "acc_rate": [0.25, 0.25],
            "model_version": ["3", "3"],
            REFERENCE_SCORE: [0.3, 0.3],
        }
    )
    assert len(distinct_rows(served, FEATURES)) == 2
