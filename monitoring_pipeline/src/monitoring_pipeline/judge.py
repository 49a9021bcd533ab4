"""The monitoring DAG's live judgement of the challenger: the shadowed requests with an
outcome since the challenger's start, the rule of `monitoring_pipeline.challenger`, and the
registry moved accordingly.

- No version at the `challenger` alias: nothing to judge (figures say so).
- The pairs: the prediction log's online rows of the drivers the current champion chose
  (its score) that the challenger scored in shadow (`challenger_score`, `challenger_version`
  equal to the challenger's version), logged from its start (`challenger_since` tag, else its
  registration time) until the run's time, joined to their outcomes as monitoring joins them.
- `promote`: `champion` moves to the challenger's version, `challenger` is deleted, the version
  is tagged `promotion` (the reason), `live_evidence` (the figures, JSON) and `judged_by_run`
  (the monitoring DAG run that decided); the DAG's next
  task emits the `champion` event, so batch scoring follows and the online service swaps it in.
- `retire`: `challenger` is deleted, the version tagged `retirement`, `live_evidence` and
  `judged_by_run`.
- `continue`: nothing moves.
Writes `challenger.json` in the run directory and pushes the figures (job `challenger`) either
way. A re-run after a decision finds no challenger and does nothing.

The run's drift alarm reads that file (`retraining_held`): while a challenger is in shadow, or
right after one was promoted, the alarm starts no retraining. One challenger at a time: a new
candidate would replace the one being judged and restart its judgement (training's
`no_other_challenger` gate refuses it too), and an alarm about a champion just replaced says
nothing about the new one, which the next window judges.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.dataset as ds
from mlops_common.champion import (
    CHALLENGER_SINCE_TAG,
    EVIDENCE_TAG,
    JUDGED_BY_TAG,
    PROMOTION_TAG,
    RETIREMENT_TAG,
    champion_or_none,
    resolve_champion,
)
from mlops_common.files import read_json, write_json
from mlops_common.paths import run_dir, scores_log_dir
from mlops_common.pushgateway import push_figures
from mlops_common.settings import get_mlflow_settings, get_promotion_settings
from prediction_log import schema as log
from prediction_log.outcomes import TRIP_COMPLETED, join_outcomes

from mlops_common import partitions
from monitoring_pipeline.challenger import Judgement, judge
from monitoring_pipeline.report import add_lines
from monitoring_pipeline.served import Window, known_request_ids, window_outcomes
from monitoring_pipeline.settings import PIPELINE, get_monitoring_settings

if TYPE_CHECKING:
    from prometheus_client import CollectorRegistry

logger = logging.getLogger(__name__)

REPORT = "challenger.json"
_UTC_MICROS = pa.timestamp("us", tz="UTC")


@dataclass(frozen=True)
class ChallengerReport:
    """What one run decided about the challenger (None: there was none)."""

    decision: str  # promote, retire, continue, or none
    reason: str
    champion_version: str | None = None
    challenger_version: str | None = None
    started_at: str | None = None
    hours: float | None = None
    evidence: dict[str, Any] = field(default_factory=dict)

    @property
    def promoted(self) -> bool:
        return self.decision == "promote"


def read_report(run_id: str) -> ChallengerReport | None:
    """The judgement RUN_ID's `judge_challenger` wrote, or None when it has not run."""
    path = run_dir(PIPELINE, run_id) / REPORT
    return ChallengerReport(**read_json(path)) if path.is_file() else None


def retraining_held(
    report: ChallengerReport | None, judged_version: str, champion_version: str | None
) -> str | None:
    """Why a drift alarm about champion JUDGED_VERSION starts no retraining, or None when it
    should: a challenger still in shadow (REPORT's decision `continue`), one just promoted, or
    a champion that is no longer JUDGED_VERSION (CHAMPION_VERSION, the alias now: another run
    promoted meanwhile)."""
    if report is not None and report.decision == "continue":
        return (
            f"challenger v{report.challenger_version} is in shadow since {report.started_at}: "
            "retraining waits for its live judgement (one challenger at a time)"
        )
    if report is not None and report.promoted:
        return (
            f"challenger v{report.challenger_version} was just promoted: the alarm was about "
            f"v{judged_version}, and the next window judges v{report.challenger_version}"
        )
    if champion_version is not None and champion_version != judged_version:
        return (
            f"the alarm was about v{judged_version}, and the champion is v{champion_version} "
            "now: the next window judges it"
        )
    return None


def shadow_pairs(
    start: datetime, end: datetime, champion_version: str, challenger_version: str
) -> pd.DataFrame:
    """The chosen online rows logged in [START, END) that the champion answered and the
    challenger scored: request_id, driver_id, score, challenger_score."""
    columns = [log.REQUEST_ID, log.DRIVER_ID, log.SCORE, log.CHALLENGER_SCORE]
    stamp = ds.field(log.LOGGED_AT)
    condition = (
        (stamp >= pa.scalar(start, _UTC_MICROS))
        & (stamp < pa.scalar(end, _UTC_MICROS))
        & (ds.field(log.SOURCE) == log.ONLINE)
        & ds.field(log.CHOSEN)
        & (ds.field(log.MODEL_VERSION) == champion_version)
        & (ds.field(log.CHALLENGER_VERSION) == challenger_version)
        & ds.field(log.SCORE).is_valid()
        & ds.field(log.CHALLENGER_SCORE).is_valid()
    )

    def read(files: list[Path]) -> pa.Table:
        if not files:
            return log.PREDICTIONS_SCHEMA.empty_table().select(columns)
        dataset = ds.dataset(
            [str(f) for f in files], format="parquet", schema=log.PREDICTIONS_SCHEMA
        )
        return dataset.to_table(columns=columns, filter=condition)

    # Only the partitions of [START, END) are listed (`mlops_common.partitions`).
    table = partitions.read_window(scores_log_dir(), start, end, read)
    return table.to_pandas().drop_duplicates(log.REQUEST_ID)


def _started_at(name: str, version: str, tags: dict[str, str], tracking_uri: str) -> datetime:
    """The challenger's start: its `challenger_since` tag, else its registration time."""
    since = tags.get(CHALLENGER_SINCE_TAG)
    if since:
        moment = datetime.fromisoformat(since)
        return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    from mlflow import MlflowClient

    created = MlflowClient(tracking_uri).get_model_version(name, version).creation_timestamp
    return datetime.fromtimestamp(created / 1000, UTC)


def judge_challenger(run_id: str, now: datetime) -> ChallengerReport:
    """Judge the challenger on its shadowed outcomes up to NOW and move the aliases as decided."""
    settings = get_mlflow_settings()
    uri = settings.resolved_tracking_uri
    challenger = champion_or_none(alias=settings.challenger_alias)
    if challenger is None:
        report = ChallengerReport("none", "no version carries the challenger alias")
        _record(run_id, report)
        push_challenger(report)
        return report
    champion = resolve_champion()
    assert challenger.version is not None
    assert champion.version is not None
    start = _started_at(settings.model_name, challenger.version, challenger.tags, uri)
    pairs = shadow_pairs(start, now, champion.version, challenger.version)
    grace = get_monitoring_settings().outcome_grace_seconds
    since = Window(start, now)
    joined = join_outcomes(
        start,
        now,
        pairs,
        window_outcomes(since, grace),
        known_request_ids(since, grace),
        grace,
    ).frame
    hours = max((now - start).total_seconds() / 3600, 0.0)
    judgement = judge(
        joined[TRIP_COMPLETED].to_numpy(dtype=np.int64),
        joined[log.SCORE].to_numpy(dtype=np.float64),
        joined[log.CHALLENGER_SCORE].to_numpy(dtype=np.float64),
        hours,
        get_promotion_settings(),
    )
    report = ChallengerReport(
        decision=judgement.decision,
        reason=judgement.reason,
        champion_version=champion.version,
        challenger_version=challenger.version,
        started_at=start.isoformat(),
        hours=round(hours, 3),
        evidence=judgement.comparison.as_dict() if judgement.comparison else {},
    )
    _record(run_id, report)  # before the registry moves: a retry then judges the same again
    _act(run_id, report, judgement, settings.model_name, uri)
    push_challenger(report)
    return report


def _act(
    run_id: str, report: ChallengerReport, judgement: Judgement, name: str, tracking_uri: str
) -> None:
    if judgement.decision == "continue":
        logger.info("challenger v%s: %s", report.challenger_version, report.reason)
        return
    from mlflow import MlflowClient

    settings = get_mlflow_settings()
    client = MlflowClient(tracking_uri)
    version = str(report.challenger_version)
    evidence = json.dumps({"hours": report.hours, **report.evidence}, sort_keys=True)
    client.set_model_version_tag(name, version, EVIDENCE_TAG, evidence[:5000])
    client.set_model_version_tag(name, version, JUDGED_BY_TAG, run_id)
    if judgement.decision == "promote":
        client.set_model_version_tag(name, version, PROMOTION_TAG, report.reason[:5000])
        client.set_registered_model_alias(name, settings.champion_alias, version)
        logger.info("challenger v%s promoted to champion: %s", version, report.reason)
    else:
        client.set_model_version_tag(name, version, RETIREMENT_TAG, report.reason[:5000])
        logger.info("challenger v%s retired: %s", version, report.reason)
    client.delete_registered_model_alias(name, settings.challenger_alias)


def report_lines(report: ChallengerReport) -> list[str]:
    """The comparison as the monitoring report shows it."""
    if report.challenger_version is None:
        return [f"challenger: none ({report.reason})"]
    head = (
        f"challenger v{report.challenger_version} in shadow beside champion "
        f"v{report.champion_version} for {report.hours or 0:.1f} h"
    )
    e = report.evidence
    if not e:
        return [f"{head}: {report.decision}: {report.reason}"]
    return [
        f"{head}: {e['samples']} joined outcomes ({e['positives']} completed); live ROC AUC "
        f"champion {e['champion_auc']:.3f}, challenger {e['challenger_auc']:.3f}, difference "
        f"{e['auc_difference']:+.3f}, anytime-valid interval [{e['auc_lower']:+.3f}, "
        f"{e['auc_upper']:+.3f}]; log loss champion {e['champion_log_loss']:.4f}, challenger "
        f"{e['challenger_log_loss']:.4f}",
        f"decision: {report.decision}: {report.reason}",
    ]


def _record(run_id: str, report: ChallengerReport) -> None:
    """`challenger.json` in the run directory; when the run's `monitor` wrote its report, the
    comparison in that report and both in the window's MLflow run."""
    folder = run_dir(PIPELINE, run_id)
    write_json(folder / REPORT, report.__dict__)
    page, summary = folder / "report.html", folder / "summary.json"
    if not (page.is_file() and summary.is_file()):
        return
    add_lines(page, report_lines(report), "challenger")
    mlflow_run = read_json(summary).get("mlflow_run_id")
    if mlflow_run:
        from mlflow import MlflowClient
        from mlops_common.mlflow_plugins import skip_feast_request_headers

        skip_feast_request_headers()
        client = MlflowClient(get_mlflow_settings().resolved_tracking_uri)
        client.log_artifact(mlflow_run, str(folder / REPORT))
        client.log_artifact(mlflow_run, str(page))


def push_challenger(report: ChallengerReport) -> bool:
    """The judgement's figures for Prometheus (job `challenger`)."""

    def build(registry: CollectorRegistry) -> None:
        from prometheus_client import Gauge

        def gauge(name: str, doc: str, value: float | None) -> None:
            if value is not None:
                Gauge(name, doc, registry=registry).set(value)

        present = report.challenger_version is not None
        Gauge(
            "driver_ranking_challenger_judged_info",
            "1 for the challenger version the last live judgement looked at.",
            ["model_version", "decision"],
            registry=registry,
        ).labels(model_version=report.challenger_version or "none", decision=report.decision).set(
            1 if present else 0
        )
        e = report.evidence
        gauge("driver_ranking_challenger_samples", "Joined outcomes judged.", e.get("samples", 0))
        gauge(
            "driver_ranking_challenger_hours", "Hours since the challenger's start.", report.hours
        )
        gauge(
            "driver_ranking_challenger_live_roc_auc",
            "Challenger's live ROC AUC.",
            e.get("challenger_auc"),
        )
        gauge(
            "driver_ranking_champion_paired_live_roc_auc",
            "Champion's live ROC AUC on the same outcomes.",
            e.get("champion_auc"),
        )
        gauge(
            "driver_ranking_challenger_roc_auc_difference",
            "Challenger minus champion live ROC AUC.",
            e.get("auc_difference"),
        )
        gauge(
            "driver_ranking_challenger_roc_auc_difference_lower",
            "Lower bound of the anytime-valid interval of the difference.",
            e.get("auc_lower"),
        )
        gauge(
            "driver_ranking_challenger_roc_auc_difference_upper",
            "Upper bound of the anytime-valid interval of the difference.",
            e.get("auc_upper"),
        )
        gauge(
            "driver_ranking_challenger_log_loss",
            "Challenger's live log loss.",
            e.get("challenger_log_loss"),
        )
        gauge(
            "driver_ranking_champion_paired_log_loss",
            "Champion's live log loss on the same outcomes.",
            e.get("champion_log_loss"),
        )

    return push_figures("challenger", build)
