"""Model validation and registration: release gates, then the promotion decision, then a
registry version and an alias (aliases, not deprecated stages): `champion`, or `challenger`
in shadow mode.

Two kinds of checks, with different outcomes:
- release gates (quality thresholds, beat the constant baseline): a model that fails them is
  broken; the task fails with exit code 2 and the reason.
- promotion (against the champion, on the candidate's own recent test set): a candidate trained
  on the champion's very data, or not better than it by TRAIN_MIN_CHAMPION_IMPROVEMENT, is a
  normal outcome of a retraining, not an error: it stays logged in MLflow, is not registered,
  the run says why (tag `registration`, `gates.json`) and the task succeeds. The DAG's
  `publish` step then ends skipped, so no `champion` event is emitted.

Which alias a registered candidate gets is `PROMOTION_MODE`: `direct` makes it `champion` at
once; `shadow` makes it `challenger` (tagged `challenger_since`, the start of its live
judgement), which the online service scores beside the champion without answering with it,
until monitoring's live judgement promotes or retires it. A registry without a champion gets
its first one directly in both modes: there is nothing to shadow.

One challenger at a time (`challenger_gate`): in shadow mode a candidate is not registered
while another run's version holds `challenger`. Its live judgement counts from its
`challenger_since`; replacing it would restart that count, and while the champion stays bad the
drift alarm (and with it a retraining) fires every hour, so a challenger that needs more than
an hour of outcomes would never be decided. Monitoring holds the alarm's retraining while a
challenger is in shadow; this gate covers the retrainings already queued, and manual runs.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import mlflow
import pandas as pd
from mlops_common.champion import CHALLENGER_SINCE_TAG, champion_or_none
from mlops_common.errors import UserError
from mlops_common.models import load_model
from mlops_common.settings import get_mlflow_settings, get_promotion_settings

from training_pipeline.inputs import model_inputs
from training_pipeline.metrics import scores
from training_pipeline.run_files import LABEL, Evaluation, Gate, GateReport, RunFiles
from training_pipeline.settings import TrainSettings, get_train_settings
from training_pipeline.tracking import connect_mlflow, git_commit

logger = logging.getLogger(__name__)

REGISTRATION_TAG = "registration"  # on the candidate's MLflow run: the one-line decision


@dataclass(frozen=True)
class ChampionScores:
    """The current champion, scored on the candidate's test split."""

    version: str
    mlflow_run_id: str | None
    data_fingerprint: str | None
    scores: dict[str, float]


def champion_scores(tracking_uri: str, test: pd.DataFrame) -> ChampionScores | None:
    """The current champion's scores on TEST, or None when there is none."""
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
    version = mlflow.MlflowClient(tracking_uri).get_model_version(
        champion.name, str(champion.version)
    )
    return ChampionScores(
        version=str(champion.version),
        mlflow_run_id=champion.run_id,
        data_fingerprint=version.tags.get("data_fingerprint"),
        scores=scores(test[LABEL].to_numpy(), predicted),
    )


def check_gates(evaluation: Evaluation, settings: TrainSettings) -> list[Gate]:
    """The release gates for a candidate's EVALUATION (model and baseline test scores)."""
    model, baseline = evaluation.model, evaluation.baseline
    auc, loss = model["roc_auc"], model["log_loss"]
    baseline_limit = baseline["log_loss"] * (1 - settings.min_baseline_improvement)
    return [
        Gate(
            "min_roc_auc",
            auc >= settings.min_roc_auc,
            auc,
            settings.min_roc_auc,
            f"test ROC AUC {auc:.4f} must be >= TRAIN_MIN_ROC_AUC {settings.min_roc_auc}",
        ),
        Gate(
            "max_log_loss",
            loss <= settings.max_log_loss,
            loss,
            settings.max_log_loss,
            f"test log loss {loss:.4f} must be <= TRAIN_MAX_LOG_LOSS {settings.max_log_loss}",
        ),
        Gate(
            "beats_baseline",
            loss <= baseline_limit,
            loss,
            baseline_limit,
            f"test log loss {loss:.4f} must beat the constant baseline's "
            f"{baseline['log_loss']:.4f} by TRAIN_MIN_BASELINE_IMPROVEMENT "
            f"{settings.min_baseline_improvement:.1%} (<= {baseline_limit:.4f})",
        ),
    ]


def check_promotion(
    evaluation: Evaluation, champion: ChampionScores | None, settings: TrainSettings
) -> list[Gate]:
    """Whether the candidate is worth a new version: new data, and better than the champion
    on the same recent test set (AUC by a margin, log loss within a tolerance)."""
    if champion is None:
        return [Gate("beats_champion", True, None, None, "no champion yet")]
    auc, loss = evaluation.model["roc_auc"], evaluation.model["log_loss"]
    champ_auc, champ_loss = champion.scores["roc_auc"], champion.scores["log_loss"]
    auc_limit = champ_auc + settings.min_champion_improvement
    loss_limit = champ_loss + settings.champion_tolerance
    return [
        Gate(
            "new_data",
            evaluation.data_fingerprint != champion.data_fingerprint,
            None,
            None,
            f"trained on the same data as champion v{champion.version} (data fingerprint "
            f"{evaluation.data_fingerprint[:12]})",
        ),
        Gate(
            "beats_champion",
            auc >= auc_limit,
            auc,
            auc_limit,
            f"test ROC AUC {auc:.4f} must beat champion v{champion.version}'s {champ_auc:.4f} "
            f"by TRAIN_MIN_CHAMPION_IMPROVEMENT {settings.min_champion_improvement} "
            f"(>= {auc_limit:.4f})",
        ),
        Gate(
            "not_worse_than_champion",
            loss <= loss_limit,
            loss,
            loss_limit,
            f"test log loss {loss:.4f} must be <= champion v{champion.version}'s "
            f"{champ_loss:.4f} + TRAIN_CHAMPION_TOLERANCE {settings.champion_tolerance}",
        ),
    ]


def challenger_gate(
    tracking_uri: str, challenger_alias: str, mlflow_run_id: str, champion_version: str
) -> Gate:
    """`no_other_challenger`: passes when no version holds CHALLENGER_ALIAS, or when it is
    this very run's (a retry of the run that registered it)."""
    challenger = champion_or_none(tracking_uri, alias=challenger_alias)
    if challenger is None or challenger.run_id == mlflow_run_id:
        return Gate("no_other_challenger", True, None, None, "no other challenger")
    since = challenger.tags.get(CHALLENGER_SINCE_TAG, "its registration")
    return Gate(
        "no_other_challenger",
        False,
        None,
        None,
        f"challenger v{challenger.version} (in shadow since {since}) is still being judged on "
        f"live traffic beside champion v{champion_version}: one challenger at a time; its "
        "judgement promotes or retires it (retire it by hand to shadow this candidate instead)",
    )


def _existing_version(client: mlflow.MlflowClient, name: str, mlflow_run_id: str) -> Any | None:
    """The registry version already made from this MLflow run (re-runs must not duplicate)."""
    found = client.search_model_versions(f"name = '{name}' and run_id = '{mlflow_run_id}'")
    return min(found, key=lambda v: int(v.version)) if found else None


def register_model(run_id: str) -> GateReport:
    """Gate the run's model; when it passes and beats the champion, register it (once) and
    move `champion` to it.

    Writes `gates.json` in the run dir either way. A model that fails a release gate raises
    UserError naming the failed gates; one that is not better than the champion is left
    unregistered (report `promoted` false, with the reason). The alias moves only on promotion.
    """
    train_settings = get_train_settings()
    files = RunFiles.of(run_id)
    evaluation = files.evaluation_result()
    training = files.training_result()
    test = pd.read_parquet(files.require(files.test_split, "prepare"))
    settings = get_mlflow_settings()
    client = connect_mlflow()

    champion = champion_scores(settings.resolved_tracking_uri, test)
    gates = check_gates(evaluation, train_settings)
    passed = all(g.passed for g in gates)
    report = GateReport(
        run_id=run_id,
        mlflow_run_id=training.mlflow_run_id,
        model_name=settings.model_name,
        passed=passed,
        gates=gates,
        champion_before=None
        if champion is None
        else {"version": champion.version, **champion.scores},
    )
    if not passed:
        report.write(files.gates)
        failed = "; ".join(g.detail for g in gates if not g.passed)
        keeps = "no champion yet" if champion is None else f"champion stays v{champion.version}"
        raise UserError(f"model rejected by the release gates: {failed} ({keeps}; {files.gates})")

    if champion is not None and champion.mlflow_run_id == training.mlflow_run_id:
        # A re-run after this very run was promoted: nothing to decide again.
        report = report.model_copy(
            update={
                "promoted": True,
                "registered_version": champion.version,
                "decision": f"already champion as v{champion.version}",
            }
        )
        report.write(files.gates)
        return report

    promotion = check_promotion(evaluation, champion, train_settings)
    # Shadow mode beside a champion: the candidate would be challenger, one at a time.
    beside = champion if get_promotion_settings().mode == "shadow" else None
    if beside is not None:
        promotion.append(
            challenger_gate(
                settings.resolved_tracking_uri,
                settings.challenger_alias,
                training.mlflow_run_id,
                beside.version,
            )
        )
    report = report.model_copy(update={"promotion": promotion})
    refused = [g for g in promotion if not g.passed]
    if refused:
        decision = "not registered: " + "; ".join(g.detail for g in refused)
        client.set_tag(training.mlflow_run_id, REGISTRATION_TAG, decision)
        report = report.model_copy(update={"promoted": False, "decision": decision})
        report.write(files.gates)
        logger.info(
            "%s (champion stays v%s; %s)", decision, champion and champion.version, files.gates
        )
        return report

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
    if beside is not None:
        alias = settings.challenger_alias
        if CHALLENGER_SINCE_TAG not in (version.tags or {}):  # a re-run keeps the start
            client.set_model_version_tag(
                settings.model_name,
                version.version,
                CHALLENGER_SINCE_TAG,
                datetime.now(UTC).isoformat(timespec="seconds"),
            )
        decision = (
            f"registered as v{version.version} and made challenger beside champion "
            f"v{beside.version} (PROMOTION_MODE=shadow: live outcomes decide)"
        )
    else:
        alias = settings.champion_alias
        decision = f"registered as v{version.version} and made champion" + (
            "" if champion is None else f" (was v{champion.version})"
        )
    client.set_registered_model_alias(settings.model_name, alias, version.version)
    client.set_tag(training.mlflow_run_id, REGISTRATION_TAG, decision)
    report = report.model_copy(
        update={
            "registered_version": str(version.version),
            "promoted": True,
            "decision": decision,
            "role": "challenger" if beside is not None else "champion",
        }
    )
    report.write(files.gates)
    logger.info(
        "models:/%s@%s now points at version %s", settings.model_name, alias, version.version
    )
    return report
