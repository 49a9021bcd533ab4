"""The live judgement task on a real MLflow registry and a small prediction log with shadow
scores and outcomes: a clearly better challenger is promoted (champion moved, challenger
dropped, evidence tagged), a worse one retired, an undecided one kept; a re-run does nothing."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import mlflow
import numpy as np
import pyarrow as pa
import pytest
from mlops_common.paths import outcomes_dir, scores_log_dir
from mlops_common.settings import reset_settings_cache
from mlops_testing import MlflowServer, register_tiny_champion
from monitoring_pipeline.cli import QUIET_EXIT_CODE, app
from monitoring_pipeline.judge import judge_challenger
from prediction_log import schema as log
from prediction_log.outcomes import OUTCOME_SCHEMA, write_outcomes
from typer.testing import CliRunner

from mlops_common import partitions

pytestmark = pytest.mark.integration

START = datetime(2026, 12, 1, 8, tzinfo=UTC)


def write_shadow_log(n: int, challenger_noise: float, seed: int = 0) -> None:
    """N answered requests since START (one a second), champion v1 answering, challenger v2 in
    shadow with CHALLENGER_NOISE (the champion's is 0.8), and each request's outcome."""
    rng = np.random.default_rng(seed)
    truth = rng.normal(size=n)
    outcome = (rng.random(n) < 1 / (1 + np.exp(-1.6 * truth))).astype(np.int64)

    def seen(noise: float) -> np.ndarray:
        return 1 / (1 + np.exp(-(truth + rng.normal(size=n) * noise)))

    logged = [START + timedelta(seconds=i) for i in range(n)]
    ids = [f"r{i}" for i in range(n)]
    predictions = pa.table(
        {
            log.REQUEST_ID: ids,
            log.DRIVER_ID: [1001] * n,
            log.LOGGED_AT: logged,
            log.MODEL_NAME: ["driver_ranking"] * n,
            log.MODEL_VERSION: ["1"] * n,
            log.SCORE: seen(0.8),
            log.RANK: [1] * n,
            log.CHOSEN: [True] * n,
            log.SOURCE: [log.ONLINE] * n,
            log.CHALLENGER_VERSION: ["2"] * n,
            log.CHALLENGER_SCORE: seen(challenger_noise),
        },
        schema=log.PREDICTIONS_SCHEMA,
    )
    partitions.append(predictions, scores_log_dir(), log.LOGGED_AT, "shadow")
    outcomes = pa.table(
        {
            log.REQUEST_ID: ids,
            log.DRIVER_ID: [1001] * n,
            "outcome_timestamp": [t + timedelta(seconds=30) for t in logged],
            "trip_completed": outcome,
        },
        schema=OUTCOME_SCHEMA,
    )
    write_outcomes(outcomes, outcomes_dir(), "outcomes")


@pytest.fixture
def registry(project_env: Path, mlflow_env: MlflowServer, monkeypatch: pytest.MonkeyPatch) -> str:
    """Champion v1 and challenger v2 (in shadow since START) of a fresh model name."""
    name = f"driver_ranking_{uuid.uuid4().hex[:8]}"
    monkeypatch.setenv("MLFLOW_MODEL_NAME", name)
    monkeypatch.setenv("PROMOTION_MAX_HOURS", "24")
    reset_settings_cache()
    register_tiny_champion(mlflow_env.uri, name)
    challenger = register_tiny_champion(mlflow_env.uri, name, alias="challenger", seed=1)
    mlflow.MlflowClient(mlflow_env.uri).set_model_version_tag(
        name, challenger.version, "challenger_since", START.isoformat()
    )
    return name


def aliases(name: str) -> dict[str, str]:
    return dict(mlflow.MlflowClient().get_registered_model(name).aliases)


def test_a_clearly_better_challenger_is_promoted_once(registry: str) -> None:
    write_shadow_log(3_000, challenger_noise=0.2)
    report = judge_challenger("judge", START + timedelta(hours=2))
    assert report.decision == "promote", report.reason
    assert aliases(registry) == {"champion": "2"}
    version = mlflow.MlflowClient().get_model_version(registry, "2")
    assert version.tags["promotion"] == report.reason
    assert version.tags["judged_by_run"] == "judge"
    evidence = json.loads(version.tags["live_evidence"])
    assert evidence["samples"] == 3_000
    assert evidence["auc_lower"] > 0
    assert evidence["challenger_auc"] > evidence["champion_auc"]
    result = CliRunner().invoke(app, ["promoted", "--run-id", "judge"])
    assert result.exit_code == 0, result.output

    # Judged again: no challenger any more, nothing moves.
    again = judge_challenger("again", START + timedelta(hours=3))
    assert again.decision == "none"
    assert aliases(registry) == {"champion": "2"}
    quiet = CliRunner().invoke(app, ["promoted", "--run-id", "again"])
    assert quiet.exit_code == QUIET_EXIT_CODE


def test_a_worse_challenger_is_retired_with_its_evidence(registry: str) -> None:
    write_shadow_log(3_000, challenger_noise=2.0)
    report = judge_challenger("judge", START + timedelta(hours=2))
    assert report.decision == "retire", report.reason
    assert aliases(registry) == {"champion": "1"}
    version = mlflow.MlflowClient().get_model_version(registry, "2")
    assert version.tags["retirement"] == report.reason
    assert version.tags["judged_by_run"] == "judge"
    assert json.loads(version.tags["live_evidence"])["auc_upper"] < 0


def test_too_few_outcomes_keep_the_challenger_until_its_maximum_duration(registry: str) -> None:
    write_shadow_log(100, challenger_noise=0.2)
    early = judge_challenger("early", START + timedelta(hours=2))
    assert early.decision == "continue"
    assert aliases(registry) == {"champion": "1", "challenger": "2"}
    late = judge_challenger("late", START + timedelta(hours=25))
    assert late.decision == "retire"
    assert "PROMOTION_MAX_HOURS" in late.reason
    assert aliases(registry) == {"champion": "1"}


def test_the_comparison_joins_the_window_report_and_its_mlflow_run(registry: str) -> None:
    """Run after `monitor` in the DAG: the judgement's figures go into the window's report
    (once, however often the task is retried) and both files into the window's MLflow run."""
    from mlops_common.files import write_json
    from mlops_common.paths import run_dir
    from monitoring_pipeline.report import quiet_page

    folder = run_dir("monitoring_pipeline", "window")
    folder.mkdir(parents=True)
    (folder / "report.html").write_text(quiet_page("400 requests judged"))
    with mlflow.start_run() as run:
        pass
    write_json(folder / "summary.json", {"mlflow_run_id": run.info.run_id})
    write_shadow_log(500, challenger_noise=0.8)

    first = judge_challenger("window", START + timedelta(hours=2))
    assert first.decision == "continue", first.reason
    judge_challenger("window", START + timedelta(hours=2))  # a retry

    page = (folder / "report.html").read_text()
    assert "400 requests judged" in page
    assert page.count("challenger v2 in shadow beside champion v1") == 1
    assert "500 joined outcomes" in page
    assert "anytime-valid interval" in page
    assert "decision: continue" in page
    logged = {a.path for a in mlflow.MlflowClient().list_artifacts(run.info.run_id)}
    assert {"challenger.json", "report.html"} <= logged
