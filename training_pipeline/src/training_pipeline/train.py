"""Model training: a scaled elastic-net logistic regression fitted on the train split, whose
prediction is the probability of completion, tracked in an MLflow run."""

from __future__ import annotations

import hashlib
import logging
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
from mlops_common.classifier import SKOPS_TRUSTED_TYPES, PositiveProbability
from mlops_common.models import cache_fitted
from mlops_common.settings import get_mlflow_settings
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

from training_pipeline import plots
from training_pipeline.inputs import model_inputs
from training_pipeline.metrics import scores
from training_pipeline.reference import log_reference, reference_sample
from training_pipeline.run_files import LABEL, Params, RunFiles, TrainingResult
from training_pipeline.settings import PIPELINE, TrainSettings, get_train_settings
from training_pipeline.tracking import connect_mlflow, git_commit

logger = logging.getLogger(__name__)


ESTIMATOR = "StandardScaler+LogisticRegression(elastic-net)"


def fit_model(
    features: pd.DataFrame, label: pd.Series, settings: TrainSettings
) -> PositiveProbability:
    """StandardScaler + elastic-net LogisticRegression fitted on the completion label; its
    `predict` is the probability of completion (one number per row, what serving scores)."""
    classifier = LogisticRegression(
        C=settings.c,
        l1_ratio=settings.l1_ratio,  # scikit-learn 1.8+: the penalty is chosen by l1_ratio
        solver="saga",  # the one solver for an elastic-net penalty
        max_iter=10_000,
        # saga visits rows in a random order; its default tol (1e-4) stops where that order
        # still shows in the 5th digit of a coefficient. 1e-8 fits the optimum (about 30
        # epochs, 0.06 s on 16,000 rows): the model does not depend on the row order.
        tol=1e-8,
        random_state=settings.seed,
    )
    model = PositiveProbability(Pipeline([("scale", StandardScaler()), ("classifier", classifier)]))
    return model.fit(features, label)


def coefficients(model: PositiveProbability, features: list[str]) -> dict[str, float]:
    """The fitted coefficients per feature: log-odds per standard deviation of the input."""
    coef = np.ravel(model.classifier[-1].coef_)
    return dict(zip(features, (float(c) for c in coef), strict=True))


def data_fingerprint(frame: pd.DataFrame) -> str:
    """A content hash of a data frame: column names, dtypes and values, row order included.

    Computed on the contents rather than the parquet bytes, which embed the writer's version.
    """
    digest = hashlib.sha256()
    digest.update(repr([(c, str(t)) for c, t in frame.dtypes.items()]).encode())
    digest.update(pd.util.hash_pandas_object(frame, index=False).to_numpy().tobytes())
    return digest.hexdigest()


def _params(settings: TrainSettings, features: list[str], rows: int) -> Params:
    return {
        "estimator": ESTIMATOR,
        "C": settings.c,
        "l1_ratio": settings.l1_ratio,
        "seed": settings.seed,
        "window_days": settings.window_days,
        "test_size": settings.test_size,
        "features": ",".join(features),
        "train_rows": rows,
    }


def _model_requirements() -> list[str]:
    """What loading the scikit-learn model needs, pinned to the versions that trained it."""
    from importlib.metadata import version

    return [f"{dist}=={version(dist)}" for dist in ("mlflow", "scikit-learn", "numpy", "pandas")]


MODEL_URI_TAG = "model_uri"  # on the training run: the logged model (set inside the run)


def _reusable(files: RunFiles, fingerprint: str, params: Params) -> TrainingResult | None:
    """The run's earlier training, when it used the same data and parameters and finished:
    recorded in `training.json`, or found in MLflow by its tags when the task was killed after
    MLflow finished the run but before that file was written."""
    client = connect_mlflow()
    if files.training.is_file():
        previous = TrainingResult.read(files.training)
        if previous.data_fingerprint == fingerprint and previous.params == params:
            try:
                status = client.get_run(previous.mlflow_run_id).info.status
            except Exception:
                return None
            return previous if status == "FINISHED" else None
        return None
    experiment = client.get_experiment_by_name(get_mlflow_settings().experiment_name)
    if experiment is None:
        return None
    runs = client.search_runs(
        [experiment.experiment_id],
        filter_string=(
            f"tags.pipeline_run_id = '{files.run_id}' and "
            f"tags.data_fingerprint = '{fingerprint}' and attributes.status = 'FINISHED'"
        ),
        order_by=["attributes.start_time ASC"],
    )
    expected = {key: str(value) for key, value in params.items()}
    for run in runs:
        model_uri = run.data.tags.get(MODEL_URI_TAG)
        if model_uri and run.data.params == expected:
            return TrainingResult(
                mlflow_run_id=run.info.run_id,
                model_uri=model_uri,
                data_fingerprint=fingerprint,
                params=params,
                features=files.feature_names(),
            )
    return None


def _end_abandoned_runs(run_id: str) -> None:
    """Mark KILLED the MLflow runs of pipeline run RUN_ID still RUNNING: a killed task cannot
    end its MLflow run, and a retry must not leave it looking alive for ever."""
    client = connect_mlflow()
    experiment = client.get_experiment_by_name(get_mlflow_settings().experiment_name)
    if experiment is None:
        return
    for run in client.search_runs(
        [experiment.experiment_id],
        filter_string=f"tags.pipeline_run_id = '{run_id}' and attributes.status = 'RUNNING'",
    ):
        client.set_terminated(run.info.run_id, status="KILLED")
        logger.warning("MLflow run %s of a killed try marked KILLED", run.info.run_id)


def train_model(run_id: str) -> TrainingResult:
    """Fit the model on the run's train split and log it, with its evidence, to MLflow.

    Idempotent: a re-run on the same data and settings returns the finished MLflow run of
    this pipeline run instead of logging a duplicate; the MLflow run of a try that was killed
    mid-logging is marked KILLED and a new one is logged.
    """
    import mlflow
    from mlflow.models import infer_signature

    settings = get_train_settings()
    files = RunFiles.of(run_id)
    train = pd.read_parquet(files.require(files.train_split, "prepare"))
    features = files.feature_names()
    inputs = model_inputs(train, features)
    label = train[LABEL]
    fingerprint = data_fingerprint(train)
    params = _params(settings, features, len(train))

    previous = _reusable(files, fingerprint, params)
    if previous is not None:
        logger.info("run %s already trained as MLflow run %s", run_id, previous.mlflow_run_id)
        previous.write(files.training)  # the same bytes, or the file a killed try never wrote
        return previous
    _end_abandoned_runs(run_id)

    connect_mlflow()
    mlflow.set_experiment(get_mlflow_settings().experiment_name)
    model = fit_model(inputs, label, settings)
    predicted = model.predict(inputs)
    coefs = coefficients(model, features)
    tags = {"pipeline": PIPELINE, "pipeline_run_id": run_id, "data_fingerprint": fingerprint}
    commit = git_commit()
    if commit:
        tags["git_commit"] = commit

    with mlflow.start_run(run_name=f"train-{run_id}", tags=tags) as run:
        mlflow.log_params(params)
        mlflow.log_metrics({f"train_{k}": v for k, v in scores(label, predicted).items()})
        mlflow.log_metrics({f"coef_{k}": v for k, v in coefs.items()})
        mlflow.log_metric("train_label_mean", float(np.mean(label)))
        info = mlflow.sklearn.log_model(
            model,
            name="model",
            # predict (and so pyfunc and spark_udf) answers P(completed), one number per row.
            skops_trusted_types=SKOPS_TRUSTED_TYPES,
            signature=infer_signature(inputs, predicted),
            input_example=inputs.head(5),
            # Stated, not inferred: inference exports the whole uv workspace (slow, and far
            # more than loading this model needs).
            pip_requirements=_model_requirements(),
        )
        mlflow.set_tag(MODEL_URI_TAG, info.model_uri)
        with tempfile.TemporaryDirectory() as tmp:
            plot_dir = Path(tmp)
            plots.calibration_plot(label.to_numpy(), predicted, plot_dir / "calibration.png")
            plots.residuals_plot(label.to_numpy(), predicted, plot_dir / "residuals.png")
            plots.coefficients_plot(coefs, plot_dir / "coefficients.png")
            mlflow.log_artifacts(str(plot_dir), artifact_path="plots")
        mlflow.log_dict({"features": features, "coefficients": coefs}, "model_summary.json")
        # The reference the monitoring DAG compares served traffic with travels with the model.
        log_reference(
            reference_sample(train, predicted, features, settings.reference_rows, settings.seed)
        )
    # The logged model never changes: evaluate, register, batch and online scoring load it
    # from the local cache (plain arrays) instead of downloading and unpickling it again.
    cache_fitted(info.model_uri, model, features)

    result = TrainingResult(
        mlflow_run_id=run.info.run_id,
        model_uri=info.model_uri,
        data_fingerprint=fingerprint,
        params=params,
        features=features,
    )
    result.write(files.training)
    logger.info(
        "trained %s on %d rows; coefficients %s; MLflow run %s (logged model %s)",
        params["estimator"],
        len(train),
        coefs,
        run.info.run_id,
        info.model_id,
    )
    return result
