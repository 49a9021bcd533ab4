"""The pipeline's steps against real Feast (DuckDB offline store, Redis), a real MLflow server
and registry: reproducible outputs, logged evidence, gated and idempotent registration."""

from __future__ import annotations

import struct
from collections.abc import Callable
from pathlib import Path

import mlflow
import mlflow.pyfunc
import numpy as np
import pandas as pd
import pytest
from mlops_common.errors import UserError
from mlops_common.files import read_json
from mlops_common.settings import reset_settings_cache
from training_pipeline.run_files import RunFiles

pytestmark = [pytest.mark.integration, pytest.mark.slow]

RunSteps = Callable[..., None]
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def test_extract_and_prepare_are_byte_identical_on_rerun(
    applied_repo: Path, run_steps: RunSteps, model_name: str
) -> None:
    first, second = RunFiles.of("run-a"), RunFiles.of("run-b")
    run_steps("run-a", "extract", "validate", "prepare")
    run_steps("run-b", "extract", "validate", "prepare")
    outputs = [
        (first.training_set, second.training_set),
        (first.train_split, second.train_split),
        (first.test_split, second.test_split),
        (first.preparation, second.preparation),
    ]
    for one, other in outputs:
        assert one.read_bytes() == other.read_bytes(), one.name
    # Re-running a task in place leaves its output unchanged.
    before = first.train_split.read_bytes()
    run_steps("run-a", "prepare")
    assert first.train_split.read_bytes() == before
    assert read_json(first.features)["features"] == ["conv_rate", "acc_rate", "avg_daily_trips"]


def test_prepare_starts_the_window_where_monitoring_recorded_a_change(
    applied_repo: Path, run_steps: RunSteps, model_name: str
) -> None:
    from mlops_common.champion import RELATION_CHANGED_AT

    files = RunFiles.of("run-change")
    run_steps("run-change", "extract", "validate")
    times = pd.to_datetime(pd.read_parquet(files.training_set)["event_timestamp"], utc=True)
    change = times.quantile(0.5)  # half the rows follow the change
    client = mlflow.MlflowClient()
    client.create_registered_model(model_name)
    client.set_registered_model_tag(model_name, RELATION_CHANGED_AT, change.isoformat())
    run_steps("run-change", "prepare")

    preparation = read_json(files.preparation)
    assert preparation["window"].startswith("since the relation changed")
    train = pd.read_parquet(files.train_split)
    assert pd.to_datetime(train["event_timestamp"], utc=True).min() >= change
    assert preparation["rows_outside_window"] == int((times < change).sum())


def test_training_registers_a_gated_champion(
    applied_repo: Path,
    model_name: str,
    run_steps: RunSteps,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    client = mlflow.MlflowClient()
    run_steps("good", "extract", "validate", "prepare", "train", "evaluate", "register")
    files = RunFiles.of("good")
    training = read_json(files.training)
    evaluation = read_json(files.evaluation)
    assert evaluation["model"]["roc_auc"] > 0.7
    assert evaluation["model"]["log_loss"] < evaluation["baseline"]["log_loss"]

    champion = client.get_model_version_by_alias(model_name, "champion")
    assert champion.version == "1"
    assert champion.run_id == training["mlflow_run_id"]
    assert champion.tags["data_fingerprint"] == training["data_fingerprint"]
    assert champion.tags["pipeline_run_id"] == "good"
    assert "git_commit" in champion.tags

    run = client.get_run(training["mlflow_run_id"])
    assert run.data.params["C"] == "1.0"
    assert run.data.tags["registration"] == "registered as v1 and made champion"
    assert {
        "train_roc_auc",
        "train_log_loss",
        "test_roc_auc",
        "test_log_loss",
        "test_brier",
    } <= set(run.data.metrics)
    assert run.data.metrics["coef_conv_rate"] > 0
    assert run.data.metrics["coef_acc_rate"] > 0
    assert run.data.metrics["coef_avg_daily_trips"] < 0

    # The signature takes the feature service's features, in order, as doubles.
    model_info = mlflow.models.get_model_info(f"models:/{model_name}@champion")
    inputs = model_info.signature.inputs.to_dict()
    assert [(c["name"], c["type"]) for c in inputs] == [
        ("conv_rate", "double"),
        ("acc_rate", "double"),
        ("avg_daily_trips", "double"),
    ]

    # Through pyfunc (what spark_udf and any MLflow consumer use) the model answers one
    # probability per row: the cached plain-array model's, to 1e-12.
    from mlops_common.models import load_model

    test = pd.read_parquet(files.test_split)
    rows = test[["conv_rate", "acc_rate", "avg_daily_trips"]]
    pyfunc = mlflow.pyfunc.load_model(f"models:/{model_name}@champion")
    served = np.asarray(pyfunc.predict(rows))
    assert served.shape == (len(test),)
    assert ((served > 0) & (served < 1)).all()
    cached = load_model(champion.source, tracking_uri=mlflow.get_tracking_uri())
    assert cached.kind == "linear"
    np.testing.assert_allclose(cached.predict(rows.to_numpy()), served, rtol=0, atol=1e-12)
    # A machine without training's cache downloads the model and finds its linear form too.
    fresh = load_model(
        champion.source, tracking_uri=mlflow.get_tracking_uri(), root=tmp_path / "fresh-cache"
    )
    assert fresh.kind == "linear"
    np.testing.assert_allclose(fresh.predict(rows.to_numpy()), served, rtol=0, atol=1e-12)

    # Plots are real, non-empty PNG images.
    plots = {a.path: a for a in client.list_artifacts(training["mlflow_run_id"], "plots")}
    assert set(plots) == {
        "plots/calibration.png",
        "plots/residuals.png",
        "plots/coefficients.png",
        "plots/reliability_test.png",
    }
    for path in plots:
        local = Path(client.download_artifacts(training["mlflow_run_id"], path))
        data = local.read_bytes()
        assert data.startswith(PNG_MAGIC), path
        width, height = struct.unpack(">II", data[16:24])
        assert width > 100, path
        assert height > 100, path

    # The monitoring reference travels with the model: a sample of the train split, scored.
    from mlops_common.reference import REFERENCE_ARTIFACT

    local = Path(client.download_artifacts(training["mlflow_run_id"], REFERENCE_ARTIFACT))
    reference = pd.read_parquet(local)
    assert list(reference.columns) == [
        "conv_rate",
        "acc_rate",
        "avg_daily_trips",
        "trip_completed",
        "score",
    ]
    train = pd.read_parquet(files.train_split)
    assert len(reference) == min(len(train), 5000)
    assert reference["score"].corr(reference["trip_completed"]) > 0
    assert reference["score"].between(0, 1).all()  # the score is a probability

    # Backfill (for versions registered before training logged it) writes the same sample.
    from training_pipeline.reference import backfill_reference

    assert backfill_reference("1") == training["mlflow_run_id"]
    again = pd.read_parquet(
        Path(client.download_artifacts(training["mlflow_run_id"], REFERENCE_ARTIFACT))
    )
    pd.testing.assert_frame_equal(again, reference)

    # Re-running train and register does not duplicate the run or the version.
    run_steps("good", "train", "register")
    assert read_json(files.training)["mlflow_run_id"] == training["mlflow_run_id"]
    assert len(client.search_model_versions(f"name = '{model_name}'")) == 1

    # A configuration that cannot pass: constant predictions. The gate refuses it.
    monkeypatch.setenv("TRAIN_C", "1e-6")
    reset_settings_cache()
    run_steps("constant", "extract", "validate", "prepare", "train", "evaluate")
    with pytest.raises(UserError, match="beat the constant baseline") as refused:
        run_steps("constant", "register")
    assert "champion stays v1" in str(refused.value)
    report = read_json(RunFiles.of("constant").gates)
    assert report["passed"] is False
    assert report["registered_version"] is None
    assert client.get_model_version_by_alias(model_name, "champion").version == "1"
    assert len(client.search_model_versions(f"name = '{model_name}'")) == 1


def test_model_coefficients_are_identical_on_retraining(
    applied_repo: Path, model_name: str, run_steps: RunSteps
) -> None:
    run_steps("fit-1", "extract", "validate", "prepare", "train")
    run_steps("fit-2", "extract", "validate", "prepare", "train")
    first, second = (read_json(RunFiles.of(r).training) for r in ("fit-1", "fit-2"))
    assert first["mlflow_run_id"] != second["mlflow_run_id"]
    assert first["data_fingerprint"] == second["data_fingerprint"]
    models = [mlflow.sklearn.load_model(t["model_uri"]) for t in (first, second)]
    fitted = [m.classifier[-1] for m in models]
    assert fitted[0].coef_.tolist() == fitted[1].coef_.tolist()
    assert fitted[0].intercept_.tolist() == fitted[1].intercept_.tolist()


def test_run_command_chains_every_task(applied_repo: Path, model_name: str) -> None:
    from training_pipeline.cli import app
    from typer.testing import CliRunner

    result = CliRunner().invoke(app, ["run", "--run-id", "all-in-one"])
    assert result.exit_code == 0, result.output
    assert "registered as v1 and made champion" in result.output
    assert read_json(RunFiles.of("all-in-one").gates)["registered_version"] == "1"


def test_a_candidate_that_is_not_better_is_logged_but_not_registered(
    applied_repo: Path, model_name: str, run_steps: RunSteps, monkeypatch: pytest.MonkeyPatch
) -> None:
    from training_pipeline.cli import QUIET_EXIT_CODE, app
    from typer.testing import CliRunner

    client = mlflow.MlflowClient()
    steps = ("extract", "validate", "prepare", "train", "evaluate", "register")
    run_steps("first", *steps)
    assert client.get_model_version_by_alias(model_name, "champion").version == "1"
    assert CliRunner().invoke(app, ["publish", "--run-id", "first"]).exit_code == 0

    # The same orders again (a drift alarm that brought no new data): the same fingerprint.
    run_steps("same-data", *steps)
    # Recent data only, but the margin over the champion is out of reach.
    monkeypatch.setenv("TRAIN_WINDOW_DAYS", "1.5")
    monkeypatch.setenv("TRAIN_MIN_CHAMPION_IMPROVEMENT", "0.5")
    reset_settings_cache()
    run_steps("not-better", *steps)

    for run_id, reason in (
        ("same-data", "trained on the same data as champion v1"),
        ("not-better", "must beat champion v1's"),
    ):
        files = RunFiles.of(run_id)
        report = read_json(files.gates)
        assert report["passed"] is True, run_id  # a sound model, just not a better one
        assert report["promoted"] is False, run_id
        assert report["registered_version"] is None, run_id
        assert report["decision"].startswith("not registered: "), run_id
        assert reason in report["decision"], run_id
        assert "\n" not in report["decision"]
        # Logged in MLflow, with the reason on its run; publish ends quiet (the task skipped).
        run = client.get_run(read_json(files.training)["mlflow_run_id"])
        assert run.data.tags["registration"] == report["decision"]
        published = CliRunner().invoke(app, ["publish", "--run-id", run_id])
        assert published.exit_code == QUIET_EXIT_CODE, published.output
        assert reason in published.output
    assert read_json(RunFiles.of("not-better").preparation)["rows_outside_window"] > 0
    assert len(client.search_model_versions(f"name = '{model_name}'")) == 1
    assert client.get_model_version_by_alias(model_name, "champion").version == "1"


def register_inverted_champion(model_name: str, run_id: str) -> str:
    """A model fitted on RUN_ID's train split with the labels inverted (it ranks worst first),
    registered and made champion by hand, as an operator rolling back would: any candidate
    beats it. Its version."""
    from mlflow.models import infer_signature
    from mlops_common.classifier import SKOPS_TRUSTED_TYPES
    from training_pipeline.inputs import model_inputs
    from training_pipeline.run_files import LABEL
    from training_pipeline.settings import get_train_settings
    from training_pipeline.train import fit_model

    files = RunFiles.of(run_id)
    train = pd.read_parquet(files.train_split)
    inputs = model_inputs(train, files.feature_names())
    model = fit_model(inputs, 1 - train[LABEL], get_train_settings())
    with mlflow.start_run(run_name="inverted"):
        info = mlflow.sklearn.log_model(
            model,
            name="model",
            skops_trusted_types=SKOPS_TRUSTED_TYPES,
            signature=infer_signature(inputs, model.predict(inputs)),
            registered_model_name=model_name,
        )
    version = str(info.registered_model_version)
    mlflow.MlflowClient().set_registered_model_alias(model_name, "champion", version)
    return version


def test_shadow_mode_makes_a_better_candidate_challenger_not_champion(
    applied_repo: Path, model_name: str, run_steps: RunSteps, monkeypatch: pytest.MonkeyPatch
) -> None:
    from training_pipeline.cli import QUIET_EXIT_CODE, app
    from typer.testing import CliRunner

    client = mlflow.MlflowClient()
    steps = ("extract", "validate", "prepare", "train", "evaluate", "register")
    monkeypatch.setenv("PROMOTION_MODE", "shadow")
    reset_settings_cache()
    run_steps("first", *steps)
    # No champion yet: nothing to shadow, the first model becomes champion in both modes.
    assert client.get_model_version_by_alias(model_name, "champion").version == "1"
    assert read_json(RunFiles.of("first").gates)["role"] == "champion"
    assert register_inverted_champion(model_name, "first") == "2"

    run_steps("second", *steps)
    report = read_json(RunFiles.of("second").gates)
    assert report["promoted"] is True, report["decision"]
    assert report["role"] == "challenger"
    assert "made challenger beside champion v2" in report["decision"]
    assert client.get_model_version_by_alias(model_name, "champion").version == "2"
    challenger = client.get_model_version_by_alias(model_name, "challenger")
    assert challenger.version == "3"
    since = challenger.tags["challenger_since"]

    # publish: the challenger event, not the champion's.
    runner = CliRunner()
    champion_publish = runner.invoke(app, ["publish", "--run-id", "second"])
    assert champion_publish.exit_code == QUIET_EXIT_CODE, champion_publish.output
    challenger_publish = runner.invoke(
        app, ["publish", "--run-id", "second", "--role", "challenger"]
    )
    assert challenger_publish.exit_code == 0, challenger_publish.output
    assert "version 3 is challenger" in challenger_publish.output

    # A re-run registers nothing new and keeps the challenger's start.
    run_steps("second", "register")
    assert len(client.search_model_versions(f"name = '{model_name}'")) == 3
    again = client.get_model_version_by_alias(model_name, "challenger")
    assert (again.version, again.tags["challenger_since"]) == ("3", since)

    # One challenger at a time: a third candidate, better than the champion too, is not
    # registered while v3 is being judged; the gate names v3 and its start.
    run_steps("third", *steps)
    third = read_json(RunFiles.of("third").gates)
    assert third["promoted"] is False, third["decision"]
    gate = {g["name"]: g for g in third["promotion"]}["no_other_challenger"]
    assert gate["passed"] is False
    assert f"challenger v3 (in shadow since {since})" in gate["detail"]
    assert {g["name"] for g in third["promotion"] if not g["passed"]} == {"no_other_challenger"}
    assert len(client.search_model_versions(f"name = '{model_name}'")) == 3
    still = client.get_model_version_by_alias(model_name, "challenger")
    assert (still.version, still.tags["challenger_since"]) == ("3", since)
    skipped = runner.invoke(app, ["publish", "--run-id", "third", "--role", "challenger"])
    assert skipped.exit_code == QUIET_EXIT_CODE, skipped.output

    # The challenger retired by hand: the third run's retry makes it the challenger.
    client.delete_registered_model_alias(model_name, "challenger")
    run_steps("third", "register")
    assert read_json(RunFiles.of("third").gates)["role"] == "challenger"
    assert client.get_model_version_by_alias(model_name, "challenger").version == "4"
