"""Model evaluation on the held-out (most recent) split, next to the constant baseline the gates
compare, with the reliability diagram of its probabilities."""

from __future__ import annotations

import logging
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
from mlflow.entities import Metric
from mlops_common.models import load_model
from mlops_common.settings import get_mlflow_settings

from training_pipeline import plots
from training_pipeline.inputs import model_inputs
from training_pipeline.metrics import scores
from training_pipeline.run_files import LABEL, Evaluation, RunFiles
from training_pipeline.tracking import connect_mlflow

logger = logging.getLogger(__name__)


def evaluate_model(run_id: str) -> Evaluation:
    """Score the run's trained model and the constant baseline (the training positive rate) on
    the test split.

    Writes `evaluation.json` in the run dir and logs `test_*` metrics and
    `plots/reliability_test.png` to the MLflow run. Same inputs, same file: the model is loaded
    from the run, not refitted.
    """
    files = RunFiles.of(run_id)
    training = files.training_result()
    test = pd.read_parquet(files.require(files.test_split, "prepare"))
    train_label = pd.read_parquet(files.require(files.train_split, "prepare"), columns=[LABEL])

    client = connect_mlflow()
    model = load_model(training.model_uri, tracking_uri=get_mlflow_settings().resolved_tracking_uri)
    label = test[LABEL].to_numpy()
    predicted = model.predict(model_inputs(test, list(model.features)).to_numpy())
    baseline_value = float(train_label[LABEL].mean())
    model_scores = scores(label, predicted)
    baseline_scores = scores(label, np.full(len(test), baseline_value))
    evaluation = Evaluation(
        mlflow_run_id=training.mlflow_run_id,
        model_uri=training.model_uri,
        data_fingerprint=training.data_fingerprint,
        test_rows=len(test),
        model=model_scores,
        baseline={"constant": baseline_value, **baseline_scores},
    )
    evaluation.write(files.evaluation)

    metrics = [Metric(f"test_{k}", v, 0, 0) for k, v in model_scores.items()]
    metrics += [Metric(f"baseline_test_{k}", v, 0, 0) for k, v in baseline_scores.items()]
    client.log_batch(training.mlflow_run_id, metrics=metrics)
    with tempfile.TemporaryDirectory() as tmp:
        plot = plots.reliability_plot(label, predicted, Path(tmp) / "reliability_test.png")
        client.log_artifact(training.mlflow_run_id, str(plot), artifact_path="plots")
    logger.info(
        "test metrics %s (baseline %s) on %d rows -> %s",
        {k: round(v, 4) for k, v in model_scores.items()},
        {k: round(v, 4) for k, v in baseline_scores.items()},
        len(test),
        files.evaluation,
    )
    return evaluation
