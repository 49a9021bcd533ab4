"""The training reference logged with the model (`mlops_common.reference`): a seeded sample
of the train split with the model's score, for drift monitoring of the served traffic.

`log_reference` runs inside the training task's MLflow run; `backfill_reference` adds it to
a model version registered before training logged it, from that run's train split.
"""

from __future__ import annotations

import logging
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from mlops_common.errors import UserError
from mlops_common.reference import REFERENCE_ARTIFACT, REFERENCE_LABEL, REFERENCE_SCORE
from mlops_common.settings import get_mlflow_settings

from training_pipeline.run_files import LABEL, RunFiles

logger = logging.getLogger(__name__)


def reference_sample(
    train: pd.DataFrame, scores: np.ndarray, features: list[str], rows: int, seed: int
) -> pd.DataFrame:
    """At most ROWS rows of TRAIN (seeded), its FEATURES, label and SCORES."""
    frame = train[features].copy()
    frame[REFERENCE_LABEL] = train[LABEL].to_numpy()
    frame[REFERENCE_SCORE] = np.asarray(scores, dtype="float64")
    if len(frame) > rows:
        frame = frame.sample(n=rows, random_state=seed)
    return frame.reset_index(drop=True)


def log_reference(frame: pd.DataFrame, run_id: str | None = None, client: Any = None) -> None:
    """Log FRAME as the reference artifact of the active MLflow run, or of RUN_ID via CLIENT."""
    import mlflow

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / Path(REFERENCE_ARTIFACT).name
        frame.to_parquet(path, index=False)
        folder = str(Path(REFERENCE_ARTIFACT).parent)
        if run_id is None:
            mlflow.log_artifact(str(path), artifact_path=folder)
        else:
            client.log_artifact(run_id, str(path), artifact_path=folder)


def backfill_reference(model_version: str) -> str:
    """Log the reference for MODEL_VERSION of the registered model from its training run's
    train split (still in the run's artifact directory); the MLflow run id it went to."""
    from mlops_common.models import load_model

    from training_pipeline.settings import get_train_settings
    from training_pipeline.tracking import connect_mlflow

    settings = get_mlflow_settings()
    client = connect_mlflow()
    version = client.get_model_version(settings.model_name, model_version)
    pipeline_run = (version.tags or {}).get("pipeline_run_id")
    if not version.run_id or not pipeline_run:
        raise UserError(
            f"{settings.model_name} v{model_version} has no training run recorded "
            "(tags pipeline_run_id / run id); retrain instead: trigger training_pipeline"
        )
    files = RunFiles.of(pipeline_run)
    if not files.train_split.is_file():
        raise UserError(
            f"the train split of run {pipeline_run!r} is gone ({files.train_split}); retrain "
            "instead: trigger training_pipeline, its model is logged with a reference"
        )
    train = pd.read_parquet(files.train_split)
    features = files.feature_names()
    model = load_model(str(version.source), tracking_uri=settings.resolved_tracking_uri)
    scores = model.predict(train[list(model.features)].to_numpy(dtype="float64"))
    train_settings = get_train_settings()
    frame = reference_sample(
        train, scores, features, train_settings.reference_rows, train_settings.seed
    )
    log_reference(frame, run_id=version.run_id, client=client)
    logger.info("logged the reference (%d rows) to MLflow run %s", len(frame), version.run_id)
    return str(version.run_id)
