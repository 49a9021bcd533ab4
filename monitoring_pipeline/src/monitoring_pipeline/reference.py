"""The champion and its training reference, from the registry (`mlops_common.reference`)."""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
from mlops_common.errors import UserError
from mlops_common.models import ScoringModel
from mlops_common.reference import REFERENCE_ARTIFACT
from mlops_common.settings import get_mlflow_settings


@dataclass(frozen=True)
class Reference:
    champion: ScoringModel
    frame: pd.DataFrame  # the model's features, label, score
    features: list[str]
    test_roc_auc: float | None


class MissingReferenceError(UserError):
    """The champion was registered before training logged its reference."""


def champion_reference(champion: ScoringModel, features: list[str]) -> Reference:
    """CHAMPION's reference sample and test ROC AUC from its training run."""
    import mlflow
    from mlflow.exceptions import MlflowException

    uri = get_mlflow_settings().resolved_tracking_uri
    backfill = (
        f"model {champion.name} v{champion.version} has no training reference "
        f"({REFERENCE_ARTIFACT} in its MLflow run); backfill it with `training-pipeline "
        f"backfill-reference --model-version {champion.version}`, or retrain "
        "(trigger training_pipeline)"
    )
    if not champion.run_id:
        raise MissingReferenceError(backfill)
    with tempfile.TemporaryDirectory() as tmp:
        try:
            path = mlflow.artifacts.download_artifacts(
                run_id=champion.run_id,
                artifact_path=REFERENCE_ARTIFACT,
                dst_path=tmp,
                tracking_uri=uri,
            )
        except (MlflowException, OSError) as exc:
            raise MissingReferenceError(backfill) from exc
        frame = pd.read_parquet(Path(path))
    missing = [name for name in features if name not in frame.columns]
    if missing:
        raise MissingReferenceError(f"{backfill} (the reference lacks {missing})")
    metrics = mlflow.MlflowClient(uri).get_run(champion.run_id).data.metrics
    auc = metrics.get("test_roc_auc")
    return Reference(champion, frame, features, float(auc) if auc is not None else None)
