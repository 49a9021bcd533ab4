"""The monitor task: judge one window of served traffic against the champion's reference.

Reads the window's online predictions from the prediction log, the champion and its training
reference from MLflow, the outcomes that arrived; runs the Evidently drift and data quality
report and the live ROC AUC and calibration; writes `report.html` and `summary.json`
atomically under the run's directory (ARTIFACT_ROOT/monitoring_pipeline/<run id>/), logs both
to MLflow (experiment MONITORING_EXPERIMENT_NAME, one run per window, tagged with the model
version) and pushes the figures to Prometheus. The same window gives the same files and
reuses its MLflow run: a re-run is idempotent.

A window without traffic (or with too few distinct rows to judge) succeeds and says so; it
never raises a drift alarm.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
from mlops_common.champion import NoChampionError, load_champion
from mlops_common.files import atomic_path
from mlops_common.paths import run_dir
from mlops_common.reference import REFERENCE_SCORE
from prediction_log import schema as log
from prediction_log.outcomes import join_outcomes

from monitoring_pipeline.drift import distinct_rows, judge_drift, save_report
from monitoring_pipeline.export import push_champion, push_summary
from monitoring_pipeline.live import live_metrics
from monitoring_pipeline.quality import save_quality_report
from monitoring_pipeline.reference import champion_reference
from monitoring_pipeline.report import add_lines, quiet_page
from monitoring_pipeline.served import Window, known_request_ids, served_rows, window_outcomes
from monitoring_pipeline.settings import PIPELINE, get_monitoring_settings
from monitoring_pipeline.skew import SkewFigures, measure_skew, window_seed
from monitoring_pipeline.summary import (
    DriftFigures,
    LiveFigures,
    MonitoringSummary,
    OutcomeFigures,
)

logger = logging.getLogger(__name__)


def summary_path(run_id: str) -> Path:
    return run_dir(PIPELINE, run_id) / "summary.json"


def report_path(run_id: str) -> Path:
    return run_dir(PIPELINE, run_id) / "report.html"


def quality_report_path(run_id: str) -> Path:
    return run_dir(PIPELINE, run_id) / "quality.html"


def _skew_lines(skew: SkewFigures | None) -> list[str]:
    if skew is None:
        return [
            "training-serving skew: not measured (no served rows, no offline store, or "
            "MONITORING_SKEW_SAMPLE_ROWS=0)"
        ]
    return [skew.line()]


def monitor(
    run_id: str, window_end: datetime, window_minutes: int | None = None
) -> MonitoringSummary:
    """Judge the window ending at WINDOW_END (WINDOW_MINUTES long, else the setting); write,
    log and push its summary."""
    settings = get_monitoring_settings()
    end = window_end if window_end.tzinfo else window_end.replace(tzinfo=UTC)
    window = Window.ending_at(end.astimezone(UTC), window_minutes or settings.window_minutes)
    try:
        champion = load_champion()
    except NoChampionError:
        push_champion(None)
        raise
    push_champion(champion.version)
    features = list(champion.features)
    reference = champion_reference(champion, features)

    # Every served candidate, with those served without features (for the skew); the rest
    # of the run judges the scored ones.
    everything = served_rows(window, features, scored_only=False)
    served = everything[everything[log.SCORE].notna()].reset_index(drop=True)
    skew = measure_skew(
        everything,
        features,
        sample_rows=settings.skew_sample_rows,
        tolerance=settings.skew_tolerance,
        gate=settings.max_skew_share,
        seed=window_seed(window.start),
    )
    requests = int(served[log.REQUEST_ID].nunique()) if len(served) else 0
    current = distinct_rows(served, features) if len(served) else served
    drift = None
    if requests == 0:
        status, message = "no_traffic", f"no online traffic in {window.label}: nothing to judge"
    elif len(current) < settings.min_rows:
        status = "too_few_rows"
        message = (
            f"{len(current)} distinct served rows in {window.label}, fewer than "
            f"MONITORING_MIN_ROWS={settings.min_rows}: drift not judged"
        )
    else:
        status = "judged"
        drift = judge_drift(
            reference.frame,
            current,
            features,
            p_value=settings.drift_p_value,
            share_threshold=settings.drift_share_threshold,
        )
        drifted = [name for name, flag in drift.feature_drifted.items() if flag]
        message = (
            f"{requests} requests, {len(current)} distinct rows in {window.label}: "
            f"drifted features {drifted or 'none'} (share {drift.drift_share:.2f})"
        )

    chosen = served.loc[served[log.CHOSEN].astype(bool), [log.REQUEST_ID, log.DRIVER_ID, log.SCORE]]
    joined = join_outcomes(
        window.start,
        window.end,
        chosen,
        window_outcomes(window, settings.outcome_grace_seconds),
        known_request_ids(window, settings.outcome_grace_seconds),
        settings.outcome_grace_seconds,
    )
    live = live_metrics(joined.frame, settings.min_outcomes)
    below = live is not None and live.roc_auc < settings.min_live_roc_auc
    drift_detected = drift is not None and drift.detected
    reasons = []
    if drift_detected:
        reasons.append("drift")
    if below:
        reasons.append("live_roc_auc_below_gate")

    report = report_path(run_id)
    if drift is not None:
        save_report(drift.snapshot, report)
    else:
        with atomic_path(report) as tmp:
            tmp.write_text(quiet_page(message))
    add_lines(report, _skew_lines(skew), "skew")
    quality = None
    scores = pd.concat([joined.frame[log.SCORE], reference.frame[REFERENCE_SCORE]])
    if live is None:
        pass  # too few outcomes (of both kinds) to judge
    elif not scores.between(0.0, 1.0).all():
        logger.warning(
            "%s v%s scores outside [0, 1] (not a probabilistic model): no classification "
            "quality report",
            champion.name,
            champion.version,
        )
    else:
        quality = save_quality_report(joined.frame, reference.frame, quality_report_path(run_id))
    summary = MonitoringSummary(
        run_id=run_id,
        window_start=window.start,
        window_end=window.end,
        model_name=champion.name,
        model_version=champion.version,
        status=status,
        message=message,
        requests=requests,
        served_rows=len(served),
        distinct_rows=len(current),
        reference_rows=len(reference.frame),
        drift=None
        if drift is None
        else DriftFigures(
            feature_p_values=drift.feature_p_values,
            feature_drifted=drift.feature_drifted,
            drift_share=drift.drift_share,
            prediction_p_value=drift.prediction_p_value,
            prediction_drifted=drift.prediction_drifted,
            missing_share=drift.missing_share,
        ),
        drift_detected=drift_detected,
        drift_share_threshold=settings.drift_share_threshold,
        live=None if live is None else LiveFigures(**live.__dict__),
        live_roc_auc_gate=settings.min_live_roc_auc,
        live_below_gate=below,
        champion_test_roc_auc=reference.test_roc_auc,
        outcomes=OutcomeFigures(**joined.counts.__dict__),
        alarm=bool(reasons),
        alarm_reasons=reasons,
        report=str(report),
        quality_report=None if quality is None else str(quality),
        skew=skew,
    )
    from monitoring_pipeline.tracking import log_to_mlflow, mark_relation_change

    summary = summary.model_copy(
        update={
            "mlflow_run_id": log_to_mlflow(summary, [report, *([quality] if quality else [])]),
            "relation_changed_at": mark_relation_change(summary),
        }
    )
    summary.write(summary_path(run_id))
    push_summary(summary)
    logger.info("monitoring %s: %s; alarm %s", window.label, message, reasons or "none")
    if skew is not None:
        logger.info("monitoring %s: %s", window.label, skew.line())
    return summary
