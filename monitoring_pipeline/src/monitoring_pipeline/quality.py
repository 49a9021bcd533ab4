"""Classification quality of the live model on the window's outcomes (Evidently).

Evidently 0.7's `ClassificationPreset` on a `DataDefinition` with a `BinaryClassification`
(target `trip_completed`, prediction the score, the model's probability of completion): ROC
curve, calibration, log loss and the confusion matrix at the decision threshold, for the chosen
drivers whose outcome arrived, beside the same figures of the champion's training reference.
Only the chosen drivers have outcomes, so these judge the champion on its own picks.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
from mlops_common.reference import REFERENCE_LABEL, REFERENCE_SCORE
from prediction_log import schema as log
from prediction_log.outcomes import TRIP_COMPLETED

from monitoring_pipeline.drift import save_report


def classification_quality(
    joined: pd.DataFrame, reference: pd.DataFrame, threshold: float = 0.5
) -> Any:
    """The Evidently snapshot of JOINED's (score, trip_completed) against REFERENCE's."""
    from evidently import BinaryClassification, DataDefinition, Dataset, Report
    from evidently.presets import ClassificationPreset

    definition = DataDefinition(
        numerical_columns=[REFERENCE_SCORE],
        classification=[
            BinaryClassification(target=REFERENCE_LABEL, prediction_probas=REFERENCE_SCORE)
        ],
    )

    def dataset(frame: pd.DataFrame, score: str, label: str) -> Any:
        data = pd.DataFrame(
            {
                REFERENCE_SCORE: frame[score].astype("float64").to_numpy(),
                REFERENCE_LABEL: frame[label].astype("int64").to_numpy(),
            }
        )
        return Dataset.from_pandas(data, data_definition=definition)

    report = Report([ClassificationPreset(probas_threshold=threshold)])
    return report.run(
        current_data=dataset(joined, log.SCORE, TRIP_COMPLETED),
        reference_data=dataset(reference, REFERENCE_SCORE, REFERENCE_LABEL),
    )


def save_quality_report(
    joined: pd.DataFrame, reference: pd.DataFrame, target: Path, threshold: float = 0.5
) -> Path:
    """The classification quality report as HTML at TARGET (written atomically)."""
    return save_report(classification_quality(joined, reference, threshold), target)
