"""Drift of a window's served features and scores against the training reference (Evidently).

Evidently 0.7's `Report` with `DataDriftPreset` (a two-sample Kolmogorov-Smirnov test per
column, p-value threshold MONITORING_DRIFT_P_VALUE) and `DataSummaryPreset` (data quality:
counts, missing values, ranges), on a `DataDefinition` naming the numerical columns.

The current data is the window's distinct (driver, served features) rows: the online store
holds one value per driver until the next materialization, so a driver asked for a hundred
times contributes the same row a hundred times; counted once per request, a test would see
thousands of "independent" samples where there are a few hundred and call noise drift.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
from mlops_common.files import atomic_path
from mlops_common.reference import REFERENCE_SCORE
from prediction_log import schema as log


@dataclass(frozen=True)
class DriftResult:
    """Per-column p-values and decisions, the share of drifted features, the verdict."""

    feature_p_values: dict[str, float]
    feature_drifted: dict[str, bool]
    drift_share: float
    detected: bool
    prediction_p_value: float
    prediction_drifted: bool
    missing_share: dict[str, float]
    snapshot: Any  # evidently Snapshot (saved as the HTML report)


def distinct_rows(served: pd.DataFrame, features: list[str]) -> pd.DataFrame:
    """One row per distinct (driver, served features, model version), with its first score.

    Not keyed on the score: one model scores the same row with results an ulp apart depending
    on the batch it came in (BLAS takes other vector paths for other row counts and memory
    alignments; scikit-learn's predict does it too), which would count one served row twice.
    """
    return served.drop_duplicates([log.DRIVER_ID, *features, log.MODEL_VERSION]).reset_index(
        drop=True
    )


def judge_drift(
    reference: pd.DataFrame,
    current: pd.DataFrame,
    features: list[str],
    *,
    p_value: float,
    share_threshold: float,
) -> DriftResult:
    """Run the Evidently report on FEATURES and the score; drift when at least
    SHARE_THRESHOLD of the features have a KS p-value below P_VALUE."""
    from evidently import DataDefinition, Dataset, Report
    from evidently.presets import DataDriftPreset, DataSummaryPreset

    columns = [*features, REFERENCE_SCORE]
    definition = DataDefinition(numerical_columns=columns)
    reference_data = Dataset.from_pandas(
        reference[columns].astype("float64"), data_definition=definition
    )
    current_data = Dataset.from_pandas(
        current[columns].astype("float64"), data_definition=definition
    )
    report = Report(
        [
            DataDriftPreset(
                columns=columns,
                num_method="ks",
                num_threshold=p_value,
                drift_share=share_threshold,
            ),
            DataSummaryPreset(columns=columns),
        ]
    )
    snapshot = report.run(current_data=current_data, reference_data=reference_data)
    p_values: dict[str, float] = {}
    missing: dict[str, float] = {}
    for metric in snapshot.dict()["metrics"]:
        config = metric["config"]
        kind = config.get("type", "")
        if kind.endswith("ValueDrift"):
            p_values[config["column"]] = float(metric["value"])
        elif kind.endswith("MissingValueCount") and config.get("column") in columns:
            missing[config["column"]] = float(metric["value"]["share"])
    drifted = {name: p_values[name] < p_value for name in features}
    share = sum(drifted.values()) / len(features)
    return DriftResult(
        feature_p_values={name: p_values[name] for name in features},
        feature_drifted=drifted,
        drift_share=share,
        detected=share >= share_threshold,
        prediction_p_value=p_values[REFERENCE_SCORE],
        prediction_drifted=p_values[REFERENCE_SCORE] < p_value,
        missing_share=missing,
        snapshot=snapshot,
    )


def save_report(snapshot: Any, target: Path) -> Path:
    """Evidently's HTML report, written atomically."""
    with atomic_path(target) as tmp:
        page = tmp.with_suffix(".html")
        snapshot.save_html(str(page))
        page.replace(tmp)
    return target
