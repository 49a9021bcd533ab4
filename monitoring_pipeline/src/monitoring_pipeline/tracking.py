"""Monitoring runs in MLflow: one run per window (reused by a re-run), tagged with the model."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from mlops_common.champion import RELATION_CHANGED_AT, RELATION_CHANGED_FOR_VERSION
from mlops_common.mlflow_plugins import skip_feast_request_headers
from mlops_common.settings import get_mlflow_settings

from monitoring_pipeline.settings import get_monitoring_settings
from monitoring_pipeline.summary import MonitoringSummary


def log_to_mlflow(summary: MonitoringSummary, reports: list[Path]) -> str:
    """Log SUMMARY's figures, the summary and the REPORTS to the window's monitoring run."""
    import mlflow

    skip_feast_request_headers()
    uri = get_mlflow_settings().resolved_tracking_uri
    mlflow.set_tracking_uri(uri)
    experiment = mlflow.set_experiment(get_monitoring_settings().experiment_name)
    window = f"{summary.window_start.isoformat()}/{summary.window_end.isoformat()}"
    client = mlflow.MlflowClient(uri)
    found = client.search_runs(
        [experiment.experiment_id],
        filter_string=(
            f"tags.window = '{window}' and tags.model_version = '{summary.model_version}'"
        ),
        max_results=1,
    )
    tags = {
        "window": window,
        "model_name": summary.model_name,
        "model_version": summary.model_version,
        "status": summary.status,
        "pipeline_run_id": summary.run_id,
    }
    metrics: dict[str, float] = {
        "requests": summary.requests,
        "distinct_rows": summary.distinct_rows,
        "drift_detected": float(summary.drift_detected),
        "outcomes_joined": summary.outcomes.joined,
        "outcomes_late": summary.outcomes.late,
        "outcomes_duplicates": summary.outcomes.duplicates,
        "outcomes_unknown_request": summary.outcomes.unknown_request,
    }
    if summary.drift is not None:
        metrics["drift_share"] = summary.drift.drift_share
        metrics["prediction_drift_p_value"] = summary.drift.prediction_p_value
        for name, value in summary.drift.feature_p_values.items():
            metrics[f"drift_p_value_{name}"] = value
    if summary.live is not None:
        metrics["live_roc_auc"] = summary.live.roc_auc
        metrics["live_calibration_error"] = summary.live.calibration_error
        metrics["live_brier"] = summary.live.brier
    if summary.champion_test_roc_auc is not None:
        metrics["champion_test_roc_auc"] = summary.champion_test_roc_auc
    run_id = found[0].info.run_id if found else None
    start = summary.window_start.strftime("%Y-%m-%dT%H:%M")
    options: dict[str, object] = (
        {"run_id": run_id} if run_id else {"run_name": f"window-{start}", "tags": tags}
    )
    with mlflow.start_run(**options) as run:  # type: ignore[arg-type]
        mlflow.set_tags({**tags, "alarm": ",".join(summary.alarm_reasons) or "none"})
        mlflow.log_metrics(metrics, step=0)
        mlflow.log_dict(summary.model_dump(mode="json"), "summary.json")
        for report in reports:
            mlflow.log_artifact(str(report))
        return str(run.info.run_id)


def mark_relation_change(summary: MonitoringSummary) -> datetime | None:
    """When the champion's live ROC AUC is below the gate, record on the registered model when
    the relation between features and outcomes changed (the start of the first such window of
    this champion: later windows of the same champion keep it). Training starts its window
    there (`mlops_common.champion.relation_changed_at`). The recorded time, or None."""
    if not summary.live_below_gate:
        return None
    import mlflow

    skip_feast_request_headers()
    uri = get_mlflow_settings().resolved_tracking_uri
    client = mlflow.MlflowClient(uri, registry_uri=uri)
    tags = client.get_registered_model(summary.model_name).tags
    if tags.get(RELATION_CHANGED_FOR_VERSION) == summary.model_version and tags.get(
        RELATION_CHANGED_AT
    ):
        return datetime.fromisoformat(tags[RELATION_CHANGED_AT])
    moment = summary.window_start.astimezone(UTC)
    client.set_registered_model_tag(summary.model_name, RELATION_CHANGED_AT, moment.isoformat())
    client.set_registered_model_tag(
        summary.model_name, RELATION_CHANGED_FOR_VERSION, summary.model_version
    )
    return moment
