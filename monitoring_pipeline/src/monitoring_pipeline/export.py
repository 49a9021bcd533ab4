"""The monitoring figures for Prometheus (pushgateway groups `monitoring` and `champion`).

The thresholds are pushed beside the figures (`..._gate`), so the alert rules compare two
series and the numbers live only in settings.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from mlops_common.pushgateway import push_figures

from monitoring_pipeline.skew import KINDS

if TYPE_CHECKING:
    from prometheus_client import CollectorRegistry

    from monitoring_pipeline.summary import MonitoringSummary


def push_champion(version: str | None) -> bool:
    """Whether a champion exists (and its version): the `NoChampion` alert's input."""
    from prometheus_client import Gauge

    def build(registry: CollectorRegistry) -> None:
        Gauge(
            "driver_ranking_champion_present",
            "1 when a registered version carries the champion alias, else 0.",
            registry=registry,
        ).set(1 if version is not None else 0)
        if version is not None and version.isdigit():
            Gauge(
                "driver_ranking_champion_version",
                "The registered version the champion alias names.",
                registry=registry,
            ).set(int(version))

    return push_figures("champion", build)


def push_summary(summary: MonitoringSummary) -> bool:
    """The window's figures; a figure that could not be computed is left out (no series)."""
    from prometheus_client import Gauge

    def build(registry: CollectorRegistry) -> None:
        def gauge(name: str, doc: str, value: float | None) -> None:
            if value is not None:
                Gauge(name, doc, registry=registry).set(value)

        gauge(
            "driver_ranking_monitoring_window_end_timestamp_seconds",
            "End of the last judged window (Unix time).",
            summary.window_end.timestamp(),
        )
        gauge(
            "driver_ranking_monitoring_window_requests",
            "Online requests logged in the last window.",
            summary.requests,
        )
        gauge(
            "driver_ranking_monitoring_window_rows",
            "Distinct served (driver, features) rows of the last window.",
            summary.distinct_rows,
        )
        gauge(
            "driver_ranking_monitoring_drift_detected",
            "1 when the share of drifted features reached MONITORING_DRIFT_SHARE_THRESHOLD.",
            1 if summary.drift_detected else 0,
        )
        gauge(
            "driver_ranking_monitoring_drift_share",
            "Share of features whose served values drifted from the reference.",
            summary.drift.drift_share if summary.drift else None,
        )
        gauge(
            "driver_ranking_monitoring_prediction_drift_score",
            "KS p-value of the served scores against the reference's (low = drift).",
            summary.drift.prediction_p_value if summary.drift else None,
        )
        if summary.drift is not None:
            drift = Gauge(
                "driver_ranking_monitoring_feature_drift_score",
                "KS p-value per feature against the reference (low = drift).",
                ["feature"],
                registry=registry,
            )
            for feature, value in summary.drift.feature_p_values.items():
                drift.labels(feature=feature).set(value)
        live = summary.live
        gauge(
            "driver_ranking_monitoring_live_roc_auc",
            "ROC AUC of the chosen drivers' scores against the outcomes of the last window.",
            live.roc_auc if live else None,
        )
        gauge(
            "driver_ranking_monitoring_live_calibration_error",
            "Expected calibration error of the scores against the outcomes.",
            live.calibration_error if live else None,
        )
        gauge(
            "driver_ranking_monitoring_live_roc_auc_gate",
            "MONITORING_MIN_LIVE_ROC_AUC: the live ROC AUC below which the alert fires.",
            summary.live_roc_auc_gate,
        )
        gauge(
            "driver_ranking_monitoring_champion_test_roc_auc",
            "The champion's ROC AUC on its held-out test split at training time.",
            summary.champion_test_roc_auc,
        )
        gauge(
            "driver_ranking_monitoring_outcomes_joined",
            "Outcomes joined to the last window's dispatches.",
            summary.outcomes.joined,
        )
        skew = summary.skew
        gauge(
            "driver_ranking_monitoring_skew_gate",
            "MONITORING_MAX_SKEW_SHARE: the share of skewed rows above which the alert fires.",
            skew.gate if skew else None,
        )
        gauge(
            "driver_ranking_monitoring_skew_rows",
            "Served rows of the last window sampled for the training-serving skew.",
            skew.rows if skew else None,
        )
        if skew is not None:
            shares = Gauge(
                "driver_ranking_monitoring_skew_share",
                "Training-serving skew: share of the sampled served rows whose feature differs "
                "from the offline point-in-time value (kind differing), is missing on one side "
                "(missing_served, missing_offline), or any of these (any).",
                ["feature", "kind"],
                registry=registry,
            )
            for feature, figures in skew.features.items():
                for kind in KINDS:
                    shares.labels(feature=feature, kind=kind).set(getattr(figures, kind))

    return push_figures("monitoring", build)
