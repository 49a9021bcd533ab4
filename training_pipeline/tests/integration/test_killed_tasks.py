"""`training-pipeline train` and `register` killed (SIGKILL) in the middle of their MLflow
writes, then run again as Airflow's retry would, against a real MLflow server: one finished
training run per pipeline run (the killed one marked KILLED, never left RUNNING), the same model
as an undisturbed run, and one registry version with the alias on it (never a version without
its alias after the retry, never two versions of one training)."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import mlflow
import pytest
from mlops_common.files import read_json
from mlops_testing.kill_point import stopped_at
from training_pipeline.run_files import RunFiles

pytestmark = [pytest.mark.integration, pytest.mark.slow]

RunSteps = Callable[..., None]
CLI = str(Path(sys.executable).with_name("training-pipeline"))


def cli(step: str, run_id: str) -> None:
    done = subprocess.run(
        [CLI, step, "--run-id", run_id], capture_output=True, text=True, timeout=600
    )
    assert done.returncode == 0, done.stdout + done.stderr


def training_runs(model_name: str, run_id: str) -> list[mlflow.entities.Run]:
    """The MLflow runs of pipeline run RUN_ID in the test's experiment, any status."""
    return mlflow.search_runs(
        experiment_names=[model_name],
        filter_string=f"tags.pipeline_run_id = '{run_id}'",
        run_view_type=mlflow.entities.ViewType.ALL,
        output_format="list",
    )


def model_of(run: mlflow.entities.Run) -> dict[str, object]:
    """What must not depend on a kill: the parameters, the coefficients and train scores."""
    return {
        "params": run.data.params,
        "metrics": {k: v for k, v in run.data.metrics.items() if k.startswith(("coef_", "train"))},
        "fingerprint": run.data.tags["data_fingerprint"],
    }


@pytest.mark.parametrize(
    "point",
    [
        # Inside the MLflow run: the model logged, the plots not yet.
        "training_pipeline.plots:calibration_plot",
        # The MLflow run finished, training.json not yet written.
        "training_pipeline.run_files:TrainingResult.write",
    ],
)
def test_train_killed_mid_logging_then_retried(
    applied_repo: Path, model_name: str, run_steps: RunSteps, tmp_path: Path, point: str
) -> None:
    run_steps("calm", "extract", "validate", "prepare", "train")
    (calm,) = training_runs(model_name, "calm")

    run_steps("killed", "extract", "validate", "prepare")
    files = RunFiles.of("killed")
    with stopped_at(
        point, [CLI, "train", "--run-id", "killed"], when="before", log=tmp_path / "train.log"
    ):
        assert not files.training.exists(), "no hand-off before the run is complete"
    cli("train", "killed")

    runs = training_runs(model_name, "killed")
    finished = [run for run in runs if run.info.status == "FINISHED"]
    assert len(finished) == 1, [run.info.status for run in runs]
    assert {run.info.status for run in runs} <= {"FINISHED", "KILLED"}, "none left RUNNING"
    (result,) = finished
    assert read_json(files.training)["mlflow_run_id"] == result.info.run_id
    assert model_of(result) == model_of(calm)
    assert not list(files.root.glob(".*")), "no temporary file left in the run directory"


def test_register_killed_before_the_alias_moved_then_retried(
    applied_repo: Path, model_name: str, run_steps: RunSteps, tmp_path: Path
) -> None:
    run_steps("killed", "extract", "validate", "prepare", "train", "evaluate")
    client = mlflow.MlflowClient()
    with stopped_at(
        "mlflow.tracking.client:MlflowClient.set_registered_model_alias",
        [CLI, "register", "--run-id", "killed"],
        when="before",
        log=tmp_path / "register.log",
    ):
        # Killed between the new version and the alias: a version nobody serves yet.
        (version,) = client.search_model_versions(f"name = '{model_name}'")
        assert version.status == "READY"
        assert client.get_registered_model(model_name).aliases == {}
    cli("register", "killed")

    versions = client.search_model_versions(f"name = '{model_name}'")
    assert [v.version for v in versions] == ["1"], "the retry reused the version"
    assert client.get_model_version_by_alias(model_name, "champion").version == "1"
    gates = read_json(RunFiles.of("killed").gates)
    assert gates["promoted"] is True
    assert gates["registered_version"] == "1"
    training = read_json(RunFiles.of("killed").training)
    run = client.get_run(training["mlflow_run_id"])
    assert run.data.tags["registration"] == "registered as v1 and made champion"
