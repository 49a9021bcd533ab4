"""The training reference: what monitoring compares served traffic with.

Training logs a sample of its train split (the model's features, the label and the model's
score on each row) as an artifact of the model's MLflow run, so the reference travels with
the model version: the monitoring task finds it from the champion's run, whichever version
the alias names. Written by `training_pipeline.reference`, read by `monitoring_pipeline`.
"""

from __future__ import annotations

REFERENCE_ARTIFACT = "reference/train_sample.parquet"
REFERENCE_LABEL = "trip_completed"
REFERENCE_SCORE = "score"
