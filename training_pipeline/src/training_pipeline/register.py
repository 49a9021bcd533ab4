"""Model validation and registration: release gates, then a registry version and the
`champion` alias, moved only when every gate passes (aliases, not deprecated stages)."""

from __future__ import annotations

import logging
from typing import Any

import mlflow
import pandas as pd
from mlops_common.champion import champion_or_none
from mlops_common.errors import UserError
from mlops_common.models import load_model
from mlops_common.settings import get_mlflow_settings

from training_pipeline.inputs import model_inputs
from training_pipeline.metrics import scores
from training_pipeline.run_files import LABEL, Evaluation, Gate, GateReport, RunFiles
from training_pipeline.settings import TrainSettings, get_train_settings
from training_pipeline.tracking import connect_mlflow, git_commit

logger = logging.getLogger(__name__)


def champion_scores(tracking_uri: str, test: pd.DataFrame) -> tuple[str, dict[str, float]] | None:
    """(version, scores) of the current champion on TEST, or None when there is none."""
    champion = champion_or_none(tracking_uri)
    if champion is None:
        return None
    model = load_model(champion, tracking_uri=tracking_uri)
    missing = model.missing_features(list(test.columns))
    if missing:
        raise UserError(
            f"the champion v{champion.version} needs features {missing} that the training set "
            "lacks; the feature service changed since it was trained"
        )
    predicted = model.predict(model_inputs(test, list(model.features)).to_numpy())
    return str(champion.version), scores(test[LABEL].to_numpy(), predicted)


def check_gates(
    evaluation: Evaluation,
    champion: tuple[str, dict[str, float]] | None,
    settings: TrainSettings,
) -> list[Gate]:
    """Every release gate for a candidate's EVALUATION (model and baseline test scores)."""
    model, baseline = evaluation.model, evaluation.baseline
    rmse, mae, auc = model["rmse"], model["mae"], model["roc_auc"]
    baseline_limit = baseline["rmse"] * (1 - settings.min_baseline_improvement)
    gates = [
        Gate(
            "max_rmse",
            rmse <= settings.max_rmse,
            rmse,
            settings.max_rmse,
            f"test RMSE {rmse:.4f} must be <= TRAIN_MAX_RMSE {settings.max_rmse}",
        ),
        Gate(
            "max_mae",
            mae <= settings.max_mae,
            mae,
            settings.max_mae,
            f"test MAE {mae:.4f} must be <= TRAIN_MAX_MAE {settings.max_mae}",
        ),
        Gate(
            "min_roc_auc",
            auc >= settings.min_roc_auc,
            auc,
            settings.min_roc_auc,
            f"test ROC AUC {auc:.4f} must be >= TRAIN_MIN_ROC_AUC {settings.min_roc_auc}",
        ),
        Gate(
            "beats_baseline",
            rmse <= baseline_limit,
            rmse,
            baseline_limit,
            f"test RMSE {rmse:.4f} must beat the constant baseline {baseline['rmse']:.4f} by "
            f"TRAIN_MIN_BASELINE_IMPROVEMENT {settings.min_baseline_improvement:.1%} "
            f"(<= {baseline_limit:.4f})",
        ),
    ]
    if champion is None:
        gates.append(Gate("not_worse_than_champion", True, None, None, "no champion yet"))
    else:
        version, champ = champion
        limit = champ["rmse"] + settings.champion_tolerance
        gates.append(
            Gate(
                "not_worse_than_champion",
                rmse <= limit,
                rmse,
                limit,
                f"test RMSE {rmse:.4f} must be <= champion v{version}'s {champ['rmse']:.4f} "
                f"+ TRAIN_CHAMPION_TOLERANCE {settings.champion_tolerance}",
            )
        )
    return gates


def _existing_version(client: mlflow.MlflowClient, name: str, mlflow_run_id: str) -> Any | None:
    """The registry version already made from this MLflow run (re-runs must not duplicate)."""
    found = client.search_model_versions(f"name = '{name}' and run_id = '{mlflow_run_id}'")
    return min(found, key=lambda v: int(v.version)) if found else None


def register_model(run_id: str) -> GateReport:
    """Gate the run's model; on success register it (once) and move `champion` to it.

    Writes `gates.json` in the run dir either way. A rejected model raises UserError naming the
    failed gates; the alias stays where it was.
    """
    train_settings = get_train_settings()
    files = RunFiles.of(run_id)
    evaluation = files.evaluation_result()
    training = files.training_result()
    test = pd.read_parquet(files.require(files.test_split, "prepare"))
    settings = get_mlflow_settings()
    client = connect_mlflow()

    champion = champion_scores(settings.resolved_tracking_uri, test)
    gates = check_gates(evaluation, champion, train_settings)
    passed = all(g.passed for g in gates)
    report = GateReport(
        run_id=run_id,
        mlflow_run_id=training.mlflow_run_id,
        model_name=settings.model_name,
        passed=passed,
        gates=gates,
        champion_before=None if champion is None else {"version": champion[0], **champion[1]},
    )
    if not passed:
        report.write(files.gates)
        failed = "; ".join(g.detail for g in gates if not g.passed)
        keeps = "no champion yet" if champion is None else f"champion stays v{champion[0]}"
        raise UserError(f"model rejected by the release gates: {failed} ({keeps}; {files.gates})")

    version = _existing_version(client, settings.model_name, training.mlflow_run_id)
    if version is None:
        tags = {
            "pipeline_run_id": run_id,
            "mlflow_run_id": training.mlflow_run_id,
            "data_fingerprint": training.data_fingerprint,
        }
        commit = git_commit()
        if commit:
            tags["git_commit"] = commit
        version = mlflow.register_model(training.model_uri, settings.model_name, tags=tags)
        logger.info("registered %s version %s", settings.model_name, version.version)
    else:
        logger.info("run already registered as %s version %s", settings.model_name, version.version)
    client.set_registered_model_alias(settings.model_name, settings.champion_alias, version.version)
    report = report.model_copy(update={"registered_version": str(version.version)})
    report.write(files.gates)
    logger.info("%s now points at version %s", settings.champion_uri, version.version)
    return report
