"""The files one training run hands from task to task, all under `run_dir(PIPELINE, run_id)`."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from mlops_common.errors import UserError
from mlops_common.files import read_json
from mlops_common.paths import run_dir

from training_pipeline.settings import PIPELINE

LABEL = "trip_completed"
ENTITY = "driver_id"
TIMESTAMP = "event_timestamp"


@dataclass(frozen=True)
class RunFiles:
    """Named paths of one run's hand-off files (nothing is created here)."""

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

    def feature_names(self) -> list[str]:
        """The feature service's features, in its order, as recorded by `extract`."""
        return list(read_json(self.require(self.features, "extract"))["features"])
