"""The predict task against a real MLflow server: champion scoring, output, summary, failures."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
from batch_scoring.predict import load_champion, predict_batch
from batch_scoring.run_files import batch_dir, predictions_path, summary_path
from mlops_common.errors import UserError
from mlops_common.files import read_json
from mlops_common.models import ScoringModel
from mlops_testing import ChampionModel, command_imports
from model_serving.cli import app
from typer.testing import CliRunner

pytestmark = [pytest.mark.integration, pytest.mark.slow]

FEATURES = ["conv_rate", "acc_rate", "avg_daily_trips"]


def _batch(run_id: str) -> None:
    result = CliRunner().invoke(app, ["batch", "--run-id", run_id], catch_exceptions=False)
    assert result.exit_code == 0, result.output


def _naive_features(stats: pd.DataFrame, driver: int, at: pd.Timestamp) -> pd.Series | None:
    rows = stats[
        (stats.driver_id == driver)
        & (stats.event_timestamp <= at)
        & (stats.event_timestamp + timedelta(days=2) >= at)
    ].sort_values(["event_timestamp", "created"])
    return None if rows.empty else rows.iloc[-1][FEATURES]


def test_batch_output_matches_an_independent_join_and_predict(
    requests_file: Path,
    champion: ChampionModel,
    stats_frame: pd.DataFrame,
    requests_frame: pd.DataFrame,
) -> None:
    _batch("run-1")
    output = pq.read_table(predictions_path("run-1")).to_pandas()
    assert list(output.columns) == [
        "driver_id",
        "event_timestamp",
        *FEATURES,
        "has_features",
        "prediction",
        "model_name",
        "model_version",
        "run_id",
    ]
    assert len(output) == len(requests_frame)
    assert set(output.model_name) == {champion.name}
    assert set(output.model_version) == {champion.version}
    assert set(output.run_id) == {"run-1"}
    # Independently: features by a naive row-by-row join, scores by the fitted estimator.
    for i in np.random.default_rng(0).choice(len(output), 25, replace=False):
        row = output.iloc[i]
        expected = _naive_features(stats_frame, row.driver_id, row.event_timestamp)
        if expected is None:
            assert not row.has_features
            assert pd.isna(row.prediction)
            continue
        assert row.has_features
        assert row[FEATURES].astype(float).tolist() == expected.astype(float).tolist()
        frame = pd.DataFrame([expected.astype("float64").to_numpy()], columns=FEATURES)
        assert row.prediction == pytest.approx(champion.model.predict(frame)[0], rel=1e-9)
    summary = read_json(summary_path("run-1"))
    assert summary["rows_in"] == len(requests_frame)
    assert summary["rows_predicted"] == int(output.has_features.sum())
    assert summary["rows_without_features"] == int((~output.has_features).sum()) > 0
    assert summary["model_version"] == champion.version
    assert summary["seconds"] > 0
    assert summary["rows_per_second"] > 0


def test_rerunning_a_run_gives_a_byte_identical_output(
    requests_file: Path, champion: ChampionModel
) -> None:
    _batch("same")
    first = predictions_path("same").read_bytes()
    _batch("same")
    assert predictions_path("same").read_bytes() == first


def test_no_champion_says_to_run_training(requests_file: Path, model_name: str) -> None:
    with pytest.raises(UserError, match="run the training DAG"):
        load_champion()
    result = CliRunner().invoke(app, ["batch", "--run-id", "none"], catch_exceptions=False)
    assert result.exit_code == 2
    assert "run the training DAG" in result.output
    assert not predictions_path("none").exists()


def _blow_up(rows: np.ndarray) -> np.ndarray:
    raise RuntimeError("model blew up")


def test_a_failed_predict_leaves_no_output(requests_file: Path, champion: ChampionModel) -> None:
    from batch_scoring.extract import extract_features

    extract_features("fails")
    broken = ScoringModel(
        champion.name, champion.version, "models:/m-x", None, tuple(FEATURES), _blow_up
    )
    with pytest.raises(RuntimeError, match="blew up"):
        predict_batch("fails", broken)
    assert sorted(p.name for p in batch_dir("fails").iterdir()) == [
        "extract.json",
        "features.parquet",
    ]


def test_cached_champion_and_recorded_layout_spare_the_frameworks(
    requests_file: Path, champion: ChampionModel
) -> None:
    _batch("first")  # loads the champion once: downloaded into the model cache
    code, heavy = command_imports("model_serving.cli", "predict", "--run-id", "first")
    assert code == 0
    assert not {"feast", "mlflow", "sklearn", "skops"} & set(heavy), heavy
    # The sorted engine reads the layout the last apply recorded: no Feast either.
    code, heavy = command_imports("model_serving.cli", "extract", "--run-id", "second")
    assert code == 0
    assert "feast" not in heavy, heavy
    first = pq.read_table(batch_dir("first") / "features.parquet")
    assert pq.read_table(batch_dir("second") / "features.parquet").equals(first)
    summary = json.loads(summary_path("first").read_text())
    assert summary["model_version"] == champion.version


def test_the_challenger_is_scored_beside_the_champion_with_its_setting(
    requests_file: Path,
    champion: ChampionModel,
    model_name: str,
    mlflow_env: object,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """BATCH_SCORE_CHALLENGER: every row with features is scored by the challenger too, beside
    the champion's unchanged prediction, and the log's challenger columns carry it."""
    from batch_scoring.log_predictions import log_batch_predictions
    from mlops_common.paths import scores_log_dir
    from mlops_common.settings import reset_settings_cache
    from mlops_testing import register_tiny_champion
    from prediction_log.reader import read_predictions

    uri = str(mlflow_env.uri)  # type: ignore[attr-defined]
    challenger = register_tiny_champion(uri, model_name, alias="challenger", seed=1)
    _batch("plain")  # the setting off: no challenger columns
    assert "challenger_prediction" not in pq.read_schema(predictions_path("plain")).names
    monkeypatch.setenv("BATCH_SCORE_CHALLENGER", "true")
    reset_settings_cache()

    _batch("shadowed")

    output = pq.read_table(predictions_path("shadowed")).to_pandas()
    plain = pq.read_table(predictions_path("plain")).to_pandas()
    pd.testing.assert_series_equal(output.prediction, plain.prediction)
    scored = output[output.has_features]
    expected = challenger.model.predict(scored[FEATURES].astype("float64"))
    np.testing.assert_allclose(scored.challenger_prediction, expected, rtol=1e-9)
    assert output[~output.has_features].challenger_prediction.isna().all()
    assert set(output.challenger_version) == {challenger.version}
    assert read_json(summary_path("shadowed"))["challenger_version"] == challenger.version

    assert log_batch_predictions("shadowed") == len(output)
    logged = read_predictions(scores_log_dir()).to_pandas()
    assert logged.challenger_score.notna().sum() == len(scored)
    assert set(logged.challenger_version.dropna()) == {challenger.version}
    np.testing.assert_allclose(
        np.sort(logged.challenger_score.dropna()), np.sort(expected), rtol=1e-9
    )


def test_the_challenger_setting_with_no_challenger_scores_the_champion_alone(
    requests_file: Path, champion: ChampionModel, monkeypatch: pytest.MonkeyPatch
) -> None:
    from mlops_common.settings import reset_settings_cache

    monkeypatch.setenv("BATCH_SCORE_CHALLENGER", "true")
    reset_settings_cache()
    _batch("alone")
    assert "challenger_prediction" not in pq.read_schema(predictions_path("alone")).names
    assert read_json(summary_path("alone"))["challenger_version"] is None
