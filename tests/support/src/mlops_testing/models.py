"""A tiny registered champion model, for tests and benchmarks that need one in MLflow."""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

FEATURES = ("conv_rate", "acc_rate", "avg_daily_trips")


@dataclass
class ChampionModel:
    name: str
    version: str
    features: tuple[str, ...]
    model: object  # the fitted scikit-learn estimator


def register_tiny_champion(
    tracking_uri: str,
    name: str,
    *,
    alias: str = "champion",
    seed: int = 0,
    reference: bool = False,
    classifier: bool = False,
) -> ChampionModel:
    """Fit a small ElasticNet pipeline on synthetic feature rows, register it under NAME and
    point ALIAS at it: the same contract the training pipeline fulfils (scikit-learn flavor,
    float signature over the feature service's columns, prediction = completion score).
    CLASSIFIER: the training pipeline's own model instead, an elastic-net logistic regression
    whose prediction is the probability (`mlops_common.classifier.PositiveProbability`).
    REFERENCE: also log the monitoring reference and a test ROC AUC, as training does."""
    import mlflow
    import numpy as np
    import pandas as pd
    from mlflow.models import infer_signature
    from sklearn.linear_model import ElasticNet
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(
        {
            "conv_rate": rng.uniform(0, 1, 500),
            "acc_rate": rng.uniform(0, 1, 500),
            "avg_daily_trips": rng.integers(0, 40, 500).astype("float64"),
        }
    )
    label = (
        0.5 * frame.conv_rate
        + 0.4 * frame.acc_rate
        + 0.005 * frame.avg_daily_trips
        + rng.normal(0, 0.05, 500)
    )
    options: dict[str, object] = {}
    model: Any
    if classifier:
        from mlops_common.classifier import SKOPS_TRUSTED_TYPES, PositiveProbability
        from sklearn.linear_model import LogisticRegression

        logistic = LogisticRegression(l1_ratio=0.5, solver="saga", max_iter=10_000)
        model = PositiveProbability(make_pipeline(StandardScaler(), logistic))
        model.fit(frame, (label > label.median()).astype("int64"))
        options["skops_trusted_types"] = SKOPS_TRUSTED_TYPES
    else:
        model = make_pipeline(StandardScaler(), ElasticNet(alpha=0.001, l1_ratio=0.5))
        model.fit(frame, label)
    client = mlflow.MlflowClient(tracking_uri)
    mlflow.set_tracking_uri(tracking_uri)
    with mlflow.start_run():
        info = mlflow.sklearn.log_model(
            model,
            name="model",
            **options,
            signature=infer_signature(frame, model.predict(frame)),
            registered_model_name=name,
        )
        if reference:
            from mlops_common.reference import REFERENCE_ARTIFACT, REFERENCE_LABEL, REFERENCE_SCORE

            sample = frame.copy()
            sample[REFERENCE_LABEL] = (label > label.median()).astype("int64")
            sample[REFERENCE_SCORE] = model.predict(frame)
            mlflow.log_metric("test_roc_auc", 0.8)
            with tempfile.TemporaryDirectory() as tmp:
                path = Path(tmp) / Path(REFERENCE_ARTIFACT).name
                sample.to_parquet(path, index=False)
                mlflow.log_artifact(str(path), str(Path(REFERENCE_ARTIFACT).parent))
    version = str(info.registered_model_version)
    client.set_registered_model_alias(name, alias, version)
    return ChampionModel(name, version, FEATURES, model)


def register_raising_model(tracking_uri: str, name: str, *, alias: str) -> str:
    """Register a model that loads but raises on every prediction
    (`mlops_testing.raising_model`), over the feature service's columns, under NAME; point
    ALIAS at it; its version."""
    import mlflow
    from mlflow.models import ModelSignature
    from mlflow.types import ColSpec, Schema

    from mlops_testing.raising_model import RaisingModel

    signature = ModelSignature(
        inputs=Schema([ColSpec("double", feature) for feature in FEATURES]),
        outputs=Schema([ColSpec("double")]),
    )
    mlflow.set_tracking_uri(tracking_uri)
    with mlflow.start_run():
        info = mlflow.pyfunc.log_model(
            name="model",
            python_model=RaisingModel(),
            signature=signature,
            registered_model_name=name,
            pip_requirements=["mlflow"],
        )
    version = str(info.registered_model_version)
    mlflow.MlflowClient(tracking_uri).set_registered_model_alias(name, alias, version)
    return version
