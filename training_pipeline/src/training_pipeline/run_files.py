"""The files one training run hands from task to task, all under `run_dir(PIPELINE, run_id)`.

Every JSON hand-off is a typed model here (`mlops_common.handoff.HandOff`: its reader and
writer), and `RunFiles` names the paths and reads each one for the task that needs it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from mlops_common.errors import UserError
from mlops_common.handoff import HandOff
from mlops_common.paths import run_dir
from pydantic import Field, computed_field

from training_pipeline.settings import PIPELINE

LABEL = "trip_completed"
ENTITY = "driver_id"
TIMESTAMP = "event_timestamp"

Params = dict[str, float | int | str]


class FeatureList(HandOff):
    """`features.json` (extract): the feature service's features, in its order."""

    feature_service: str
    features: list[str]
    feature_refs: list[str]


class ValidationReport(HandOff):
    """`validation.json` (validate): what was checked and every problem found."""

    rows: int
    columns: list[str]
    null_share: dict[str, float]
    positive_rate: float | None
    problems: list[str] = Field(default_factory=list)

    @computed_field  # type: ignore[prop-decorator]
    @property
    def valid(self) -> bool:
        return not self.problems


class Preparation(HandOff):
    """`preparation.json` (prepare): how many rows went where, and where in time the split is."""

    rows_in: int
    rows_outside_window: int
    rows_dropped_null_features: int
    train_rows: int
    test_rows: int
    window_days: float
    window_start: str = ""  # the oldest event time kept
    window: str = ""  # why the window starts there
    test_size: float
    train_end: str  # the newest train row's event time
    test_start: str  # the oldest test row's event time (never before train_end)


class TrainingResult(HandOff):
    """`training.json` (train): where the trained model is tracked."""

    mlflow_run_id: str
    model_uri: str
    data_fingerprint: str
    params: Params
    features: list[str]


class Evaluation(HandOff):
    """`evaluation.json` (evaluate): the model's and the constant baseline's test scores."""

    mlflow_run_id: str
    model_uri: str
    data_fingerprint: str
    test_rows: int
    model: dict[str, float]
    baseline: dict[str, float]  # "constant" (the predicted value) and its scores


@dataclass(frozen=True)
class Gate:
    """One release check: passed, the measured value, the limit and why."""

    name: str
    passed: bool
    value: float | None
    limit: float | None
    detail: str


class GateReport(HandOff):
    """`gates.json` (register): every release gate, the promotion checks against the champion,
    the decision in one line and the version made. `publish` reads `promoted`."""

    run_id: str
    mlflow_run_id: str
    model_name: str
    passed: bool  # every release gate passed
    gates: list[Gate]
    champion_before: dict[str, float | str] | None
    promotion: list[Gate] = Field(default_factory=list)
    promoted: bool = False  # the alias (`role`) now points at this run's version
    decision: str = ""
    registered_version: str | None = None
    role: Literal["champion", "challenger"] = "champion"  # the alias promotion moved

    def published_version(self, role: str = "champion") -> str | None:
        """The version this run made ROLE (`champion` or `challenger`), or None when that
        alias did not move for it."""
        return self.registered_version if self.promoted and self.role == role else None


@dataclass(frozen=True)
class RunFiles:
    """Named paths of one run's hand-off files and their typed readers (nothing is created)."""

    run_id: str
    root: Path

    @classmethod
    def of(cls, run_id: str) -> RunFiles:
        return cls(run_id, run_dir(PIPELINE, run_id))

    @property
    def training_set(self) -> Path:
        return self.root / "training_set.parquet"

    @property
    def features(self) -> Path:
        return self.root / "features.json"

    @property
    def validation(self) -> Path:
        return self.root / "validation.json"

    @property
    def train_split(self) -> Path:
        return self.root / "train.parquet"

    @property
    def test_split(self) -> Path:
        return self.root / "test.parquet"

    @property
    def preparation(self) -> Path:
        return self.root / "preparation.json"

    @property
    def training(self) -> Path:
        return self.root / "training.json"

    @property
    def evaluation(self) -> Path:
        return self.root / "evaluation.json"

    @property
    def gates(self) -> Path:
        return self.root / "gates.json"

    def require(self, path: Path, producer: str) -> Path:
        """PATH, or a UserError telling which task to run first."""
        if not path.is_file():
            raise UserError(
                f"{path.name} is missing for run {self.run_id!r} ({path}); run "
                f"`training-pipeline {producer} --run-id {self.run_id}` first"
            )
        return path

    def feature_list(self) -> FeatureList:
        return FeatureList.read(self.require(self.features, "extract"))

    def feature_names(self) -> list[str]:
        """The feature service's features, in its order, as recorded by `extract`."""
        return self.feature_list().features

    def validation_report(self) -> ValidationReport:
        return ValidationReport.read(self.require(self.validation, "validate"))

    def training_result(self) -> TrainingResult:
        return TrainingResult.read(self.require(self.training, "train"))

    def evaluation_result(self) -> Evaluation:
        return Evaluation.read(self.require(self.evaluation, "evaluate"))

    def gate_report(self) -> GateReport:
        return GateReport.read(self.require(self.gates, "register"))
