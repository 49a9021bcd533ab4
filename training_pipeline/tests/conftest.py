"""Fixtures of the training pipeline's tests: generated data, an applied feature repo, a fresh
registered-model name, and the pipeline's steps run in-process."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest
from mlops_common.settings import reset_settings_cache
from mlops_testing import MlflowServer, RedisServer, prefer_installed_package

prefer_installed_package("training_pipeline")

END_TIME = datetime(2026, 11, 1, tzinfo=UTC)
SMALL = {"n_drivers": 30, "days": 3, "n_orders": 2_000, "n_batch_requests": 10}


@pytest.fixture
def small_data(project_env: Path) -> Path:
    """A small deterministic generation (orders and driver stats) in the project_env paths."""
    from data_pipeline.generate import generate

    return generate(end_time=END_TIME, seed=7, **SMALL).orders


@pytest.fixture
def applied_repo(small_data: Path, redis_env: RedisServer) -> Path:
    """The small data with the Feast repo applied to the test's registry."""
    from feature_store.apply import apply_repo

    apply_repo()
    return small_data


@pytest.fixture
def model_name(mlflow_env: MlflowServer, monkeypatch: pytest.MonkeyPatch) -> str:
    """A registered-model name of this test only (the MLflow server is shared by the session)."""
    name = f"driver_ranking_{uuid.uuid4().hex[:8]}"
    monkeypatch.setenv("MLFLOW_MODEL_NAME", name)
    monkeypatch.setenv("MLFLOW_EXPERIMENT_NAME", name)
    reset_settings_cache()
    return name


RunSteps = Callable[..., None]


@pytest.fixture
def run_steps() -> RunSteps:
    """Call `run_steps(run_id, "extract", "validate", ...)` to run steps in this process."""
    from training_pipeline.evaluate import evaluate_model
    from training_pipeline.extract import extract_training_set
    from training_pipeline.prepare import prepare_splits
    from training_pipeline.register import register_model
    from training_pipeline.train import train_model
    from training_pipeline.validate import validate_training_set

    steps = {
        "extract": extract_training_set,
        "validate": validate_training_set,
        "prepare": prepare_splits,
        "train": train_model,
        "evaluate": evaluate_model,
        "register": register_model,
    }

    def run(run_id: str, *names: str) -> None:
        for name in names:
            steps[name](run_id)

    return run
