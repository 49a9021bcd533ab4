"""`summary.json` of one monitoring run: what was judged, every figure, the verdict."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Literal, Self

from mlops_common.files import read_json, write_json
from pydantic import BaseModel, ConfigDict

from monitoring_pipeline.skew import SkewFigures


class DriftFigures(BaseModel):
    feature_p_values: dict[str, float]
    feature_drifted: dict[str, bool]
    drift_share: float
    prediction_p_value: float
    prediction_drifted: bool
    missing_share: dict[str, float]


class LiveFigures(BaseModel):
    outcomes: int
    positive_rate: float
    mean_score: float
    roc_auc: float
    brier: float
    calibration_error: float


class OutcomeFigures(BaseModel):
    joined: int = 0
    duplicates: int = 0
    late: int = 0
    unknown_request: int = 0
    driver_mismatch: int = 0


class MonitoringSummary(BaseModel):
    model_config = ConfigDict(frozen=True)

    run_id: str
    window_start: datetime
    window_end: datetime
    model_name: str
    model_version: str
    status: Literal["judged", "no_traffic", "too_few_rows"]
    message: str
    requests: int
    served_rows: int
    distinct_rows: int
    reference_rows: int
    drift: DriftFigures | None
    drift_detected: bool
    drift_share_threshold: float
    live: LiveFigures | None
    live_roc_auc_gate: float
    live_below_gate: bool
    champion_test_roc_auc: float | None
    outcomes: OutcomeFigures
    alarm: bool
    alarm_reasons: list[str]
    report: str
    quality_report: str | None = None  # the live classification quality (with outcomes)
    skew: SkewFigures | None = None  # training-serving skew of a sample of the served rows
    mlflow_run_id: str | None = None
    # when the relation changed, as recorded on the registered model (live AUC below the gate)
    relation_changed_at: datetime | None = None

    @classmethod
    def read(cls, path: Path) -> Self:
        return cls.model_validate(read_json(path))

    def write(self, path: Path) -> Path:
        return write_json(path, self.model_dump(mode="json"))
