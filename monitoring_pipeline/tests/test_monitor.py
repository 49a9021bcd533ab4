"""The monitor task against a real MLflow server, a real Feast registry (the prediction log is
written through Feast's feature logging) and a real pushgateway: stable traffic is judged quiet
with live AUC from the outcomes, drifted traffic raises the alarm, an empty window succeeds
quietly, a re-run reuses its MLflow run, a champion without reference fails in one line."""

from __future__ import annotations

import subprocess
import sys
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from mlops_common.settings import reset_settings_cache
from mlops_testing import ChampionModel, MlflowServer, Pushgateway, register_tiny_champion

pytestmark = [pytest.mark.integration, pytest.mark.slow]

END = datetime(2026, 11, 30, 12, tzinfo=UTC)
FEATURES = ("conv_rate", "acc_rate", "avg_daily_trips")
CLI = Path(sys.executable).parent / "monitoring-pipeline"


@pytest.fixture
def monitoring_env(
    project_env: Path,
    mlflow_env: MlflowServer,
    pushgateway_env: Pushgateway,
    monkeypatch: pytest.MonkeyPatch,
) -> Path:
    from feature_store.apply import apply_repo

    monkeypatch.setenv("MLFLOW_MODEL_NAME", f"driver_ranking_{uuid.uuid4().hex[:8]}")
    monkeypatch.setenv("MONITORING_EXPERIMENT_NAME", f"monitoring_{uuid.uuid4().hex[:8]}")
    reset_settings_cache()
    apply_repo()
    return project_env


def drivers(seed: int, drift: bool = False) -> pd.DataFrame:
    """200 drivers' served features, from the tiny champion's training distribution."""
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(
        {
            "conv_rate": rng.uniform(0, 1, 200),
            "acc_rate": rng.uniform(0, 1, 200),
            "avg_daily_trips": rng.integers(0, 40, 200).astype("float64"),
        },
        index=pd.Index(range(1001, 1201), name="driver_id"),
    )
    if drift:
        frame["conv_rate"] = np.clip(frame.conv_rate - 0.3, 0, 1)
        frame["acc_rate"] = np.clip(frame.acc_rate - 0.3, 0, 1)
        frame["avg_daily_trips"] += 15
    return frame


def serve(
    champion: ChampionModel,
    stats: pd.DataFrame,
    requests: int,
    seed: int,
    end: datetime = END,
    *,
    changed: bool = False,
) -> list[str]:
    """Log REQUESTS answered requests (5 candidates each) in the window ending at END, and an
    outcome for each chosen driver (completed with probability = its score; 1 - its score when
    CHANGED, a concept change that turns the champion's ranking upside down)."""
    from feature_store.store import get_store
    from mlops_common.paths import outcomes_dir, scores_log_dir
    from online_service.features import FeatureRows
    from online_service.recorder import LoggedRequest, to_batch
    from online_service.schemas import DriverScore, InferenceResponse
    from prediction_log.outcomes import write_outcomes
    from prediction_log.writer import PredictionLogWriter

    rng = np.random.default_rng(seed)
    logged, outcomes, ids = [], [], []
    for i in range(requests):
        candidates = [int(d) for d in rng.choice(stats.index, 5, replace=False)]
        values = stats.loc[candidates, list(FEATURES)].to_numpy()
        model: Any = champion.model
        scores = model.predict(stats.loc[candidates, list(FEATURES)])
        order = np.argsort(-scores)
        request_id = f"s{seed}-{i}"
        best = candidates[order[0]]
        response = InferenceResponse(
            request_id=request_id,
            best_driver_id=best,
            scores=[DriverScore(driver_id=candidates[j], score=float(scores[j])) for j in order],
            missing_driver_ids=[],
            model_name=champion.name,
            model_version=champion.version,
        )
        at = end - timedelta(minutes=50) + timedelta(seconds=5 * i)
        logged.append(
            LoggedRequest.of(
                at.timestamp(), response, FeatureRows(FEATURES, candidates, values, [])
            )
        )
        p = float(np.clip(scores[order[0]], 0, 1))
        completed = int(rng.uniform() < (1 - p if changed else p))
        outcomes.append((request_id, best, at + timedelta(minutes=2), completed))
        ids.append(request_id)
    writer = PredictionLogWriter(get_store(), "driver_ranking", scores_log_dir())
    writer.write(to_batch(logged, FEATURES))
    frame = pd.DataFrame(
        outcomes, columns=["request_id", "driver_id", "outcome_timestamp", "trip_completed"]
    )
    table = pa.Table.from_pandas(frame, preserve_index=False)
    write_outcomes(table, outcomes_dir(), str(seed))
    return ids


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(CLI), *args], capture_output=True, text=True, timeout=600, check=False
    )


def test_stable_quiet_drift_alarm_empty_window_and_rerun(
    monitoring_env: Path, mlflow_env: MlflowServer, pushgateway_env: Pushgateway
) -> None:
    import mlflow
    from mlops_common.settings import get_mlflow_settings
    from monitoring_pipeline.monitor import monitor

    name = get_mlflow_settings().model_name
    champion = register_tiny_champion(mlflow_env.uri, name, reference=True)

    # A window with no traffic: succeeds, says so, no alarm.
    empty = monitor("empty", END - timedelta(days=1))
    assert empty.status == "no_traffic"
    assert not empty.alarm
    assert "no online traffic" in empty.message
    assert Path(empty.report).is_file()

    # Stable traffic with outcomes: judged, quiet, live AUC beside the champion's test AUC.
    serve(champion, drivers(1), 400, seed=1)
    stable = monitor("stable", END)
    assert stable.status == "judged", stable.message
    assert stable.requests == 400
    assert stable.distinct_rows == 200
    assert not stable.drift_detected
    assert stable.live is not None
    assert stable.live.roc_auc > 0.6
    assert stable.outcomes.joined == 400
    assert stable.champion_test_roc_auc == pytest.approx(0.8)
    assert not stable.alarm
    html = Path(stable.report).read_text()
    assert "root_metric" in html  # Evidently's rendered metrics
    assert "conv_rate" in html
    # The tiny champion is a regressor: its scores are no probabilities, so no quality report
    # (`test_quality_report_of_probabilities_and_outcomes` has one).
    assert stable.quality_report is None
    assert run_cli("alarm", "--run-id", "stable").returncode == 99

    # The same window again: same verdict, the same MLflow run.
    again = monitor("stable", END)
    assert again.mlflow_run_id == stable.mlflow_run_id
    run = mlflow.MlflowClient(mlflow_env.uri).get_run(stable.mlflow_run_id)
    assert run.data.tags["model_version"] == champion.version
    artifacts = {
        a.path for a in mlflow.MlflowClient(mlflow_env.uri).list_artifacts(run.info.run_id)
    }
    assert {"summary.json", "report.html"} <= artifacts

    # The figures reached the pushgateway.
    pushed = pushgateway_env.metrics()
    assert 'driver_ranking_monitoring_drift_detected{instance="",job="monitoring"} 0' in pushed
    assert 'driver_ranking_champion_present{instance="",job="champion"} 1' in pushed
    assert "driver_ranking_monitoring_live_roc_auc{" in pushed

    # Drifted traffic in a later window: the alarm, and `alarm` exits 0 (the asset event).
    serve_end = END + timedelta(hours=1)
    serve(champion, drivers(2, drift=True), 300, seed=3, end=serve_end)
    drifted = monitor("drifted", serve_end)
    assert drifted.drift_detected, drifted.message
    assert drifted.alarm_reasons[0] == "drift"
    result = run_cli("alarm", "--run-id", "drifted")
    assert result.returncode == 0, result.stdout + result.stderr
    assert 'driver_ranking_monitoring_drift_detected{instance="",job="monitoring"} 1' in (
        pushgateway_env.metrics()
    )

    # One challenger at a time: the run's judgement holds the alarm's retraining while a
    # challenger is in shadow and right after a promotion; not after a retirement or with none.
    from mlops_common.files import write_json
    from mlops_common.paths import run_dir
    from monitoring_pipeline.judge import REPORT, ChallengerReport
    from monitoring_pipeline.settings import PIPELINE

    judged = run_dir(PIPELINE, "drifted") / REPORT
    for decision, held in [("continue", "in shadow since"), ("promote", "just promoted")]:
        report = ChallengerReport(decision, "figures", champion.version, "7", "2026-01-01")
        write_json(judged, report.__dict__)
        result = run_cli("alarm", "--run-id", "drifted")
        assert result.returncode == 99, result.stdout + result.stderr
        assert f"no retraining: challenger v7 {'' if decision == 'continue' else 'was '}" in (
            result.stdout
        )
        assert held in result.stdout
    for decision in ("retire", "none"):
        write_json(judged, ChallengerReport(decision, "figures").__dict__)
        result = run_cli("alarm", "--run-id", "drifted")
        assert result.returncode == 0, result.stdout + result.stderr
    # The champion replaced since the window was judged (another run promoted): no retraining.
    newer = register_tiny_champion(mlflow_env.uri, name, seed=1)
    result = run_cli("alarm", "--run-id", "drifted")
    assert result.returncode == 99, result.stdout + result.stderr
    assert f"the champion is v{newer.version} now" in result.stdout


def test_a_live_auc_below_the_gate_records_when_the_relation_changed(
    monitoring_env: Path, mlflow_env: MlflowServer
) -> None:
    import mlflow
    from mlops_common.champion import RELATION_CHANGED_FOR_VERSION, relation_changed_at
    from mlops_common.settings import get_mlflow_settings
    from monitoring_pipeline.monitor import monitor

    name = get_mlflow_settings().model_name
    champion = register_tiny_champion(mlflow_env.uri, name, reference=True)
    serve(champion, drivers(1), 300, seed=1)
    assert not monitor("before", END).live_below_gate
    assert relation_changed_at() is None  # a healthy window records nothing

    changed_end = END + timedelta(hours=1)
    serve(champion, drivers(1), 300, seed=2, end=changed_end, changed=True)
    changed = monitor("changed", changed_end)
    assert changed.live is not None
    assert changed.live.roc_auc < changed.live_roc_auc_gate
    assert "live_roc_auc_below_gate" in changed.alarm_reasons
    assert changed.relation_changed_at == changed.window_start
    assert relation_changed_at() == changed.window_start
    tags = mlflow.MlflowClient(mlflow_env.uri).get_registered_model(name).tags
    assert tags[RELATION_CHANGED_FOR_VERSION] == champion.version

    # A later window of the same champion, still below: the change keeps its first time.
    later_end = changed_end + timedelta(hours=1)
    serve(champion, drivers(1), 300, seed=3, end=later_end, changed=True)
    later = monitor("later", later_end)
    assert later.live_below_gate
    assert later.relation_changed_at == changed.window_start
    assert relation_changed_at() == changed.window_start


def test_a_run_opens_only_the_partitions_of_its_window(
    monitoring_env: Path, mlflow_env: MlflowServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A week of history before the window and a day after it, in files that are not even
    parquet: the run judges its window and opens none of them."""
    from mlops_common.partitions import partition_hour
    from mlops_common.paths import feature_log_dir, outcomes_dir, scores_log_dir
    from mlops_common.settings import get_mlflow_settings
    from mlops_testing.files import opened_parquet_files, plant_unreadable_history
    from monitoring_pipeline.monitor import monitor

    champion = register_tiny_champion(
        mlflow_env.uri, get_mlflow_settings().model_name, reference=True
    )
    serve(champion, drivers(1), 400, seed=1)
    folders = [scores_log_dir(), feature_log_dir(), outcomes_dir()]
    # Window [END - 1 h, END); outcomes read up to END + grace (1 h) + 1 h; request ids known
    # from one window plus the grace period before it.
    earliest, latest = END - timedelta(hours=3), END + timedelta(hours=2)
    history = [earliest - timedelta(hours=1 + h) for h in range(7 * 24)]
    history += [latest + timedelta(hours=h) for h in range(24)]
    plant_unreadable_history(folders, history)

    opened = opened_parquet_files(monkeypatch)
    summary = monitor("bounded", END)
    assert summary.status == "judged", summary.message
    assert summary.outcomes.joined == 400
    in_datasets = [p for p in opened if any(p.is_relative_to(f) for f in folders)]
    assert {p.parent.parent.parent for p in in_datasets} == set(folders)
    for path in in_datasets:
        hour = partition_hour(path.parent)
        assert hour is not None, path
        assert earliest <= hour < latest, path


def test_champion_without_reference_fails_in_one_line(
    monitoring_env: Path, mlflow_env: MlflowServer
) -> None:
    from mlops_common.settings import get_mlflow_settings

    champion = register_tiny_champion(mlflow_env.uri, get_mlflow_settings().model_name)
    result = run_cli("monitor", "--run-id", "old", "--window-end", END.isoformat())
    assert result.returncode == 2
    errors = [line for line in result.stderr.splitlines() if line.startswith("Error:")]
    assert len(errors) == 1
    assert f"backfill-reference --model-version {champion.version}" in errors[0]
    assert "Traceback" not in result.stderr


def test_quality_report_of_probabilities_and_outcomes(tmp_path: Path) -> None:
    """Evidently's classification quality of the chosen drivers' outcomes: its ROC AUC and log
    loss are scikit-learn's on the same rows, the confusion counts those at the threshold, and
    the HTML report renders the confusion matrix."""
    from monitoring_pipeline.quality import classification_quality, save_quality_report
    from sklearn.metrics import log_loss, roc_auc_score

    rng = np.random.default_rng(5)
    score = rng.uniform(0.05, 0.95, 400)
    completed = (rng.uniform(size=400) < score).astype(int)
    joined = pd.DataFrame(
        {"request_id": [f"r{i}" for i in range(400)], "score": score, "trip_completed": completed}
    )
    reference = pd.DataFrame({"score": score[::-1], "trip_completed": completed[::-1]})
    figures = {
        metric["config"]["type"].rsplit(":", 1)[-1]: metric["value"]
        for metric in classification_quality(joined, reference).dict()["metrics"]
    }
    assert figures["RocAuc"] == pytest.approx(roc_auc_score(completed, score))
    assert figures["LogLoss"] == pytest.approx(log_loss(completed, score))
    predicted = score >= 0.5
    assert figures["TPR"] == pytest.approx(predicted[completed == 1].mean())
    assert figures["FPR"] == pytest.approx(predicted[completed == 0].mean())
    html = save_quality_report(joined, reference, tmp_path / "quality.html").read_text()
    assert "Confusion" in html  # ("ROC" and "Log" are in every Evidently page's script)


def _write_stats(stats: pd.DataFrame, at: datetime, *, append: bool) -> None:
    """Every driver's statistics STATS stamped AT, written (or appended) to the offline store,
    atomically as the data pipeline publishes it."""
    from data_pipeline.generate import STATS_SCHEMA
    from data_pipeline.settings import get_data_settings
    from mlops_common.files import write_parquet

    path = get_data_settings().driver_stats_path
    rows = stats.reset_index()
    rows["event_timestamp"] = rows["created"] = pd.Timestamp(at).as_unit("us")
    rows = rows.astype({"conv_rate": "float32", "acc_rate": "float32", "avg_daily_trips": "int64"})
    if append:
        rows = pd.concat([pd.read_parquet(path), rows[STATS_SCHEMA.names]], ignore_index=True)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_parquet(pa.Table.from_pandas(rows[STATS_SCHEMA.names], schema=STATS_SCHEMA), path)


def _serve_from_redis(champion: ChampionModel, ids: list[int], requests: int, at: datetime) -> None:
    """REQUESTS answered requests from AT on (one a second), each for 5 of IDS, with the
    features the online service reads from Redis (its own reader), logged as it logs them."""
    import asyncio

    from feature_store.store import get_store
    from mlops_common.paths import scores_log_dir
    from online_service.features import open_feature_reader
    from online_service.recorder import LoggedRequest, to_batch
    from online_service.schemas import DriverScore, InferenceResponse
    from online_service.settings import get_online_settings
    from prediction_log.writer import PredictionLogWriter

    async def read_all() -> list[Any]:
        reader = open_feature_reader(get_online_settings())
        try:
            rng = np.random.default_rng(at.hour)
            return [
                await reader.read([int(d) for d in rng.choice(ids, 5, replace=False)])
                for _ in range(requests)
            ]
        finally:
            await reader.close()

    logged = []
    for i, rows in enumerate(asyncio.run(read_all())):
        model: Any = champion.model
        frame = pd.DataFrame(rows.values, columns=list(rows.feature_names))[list(FEATURES)]
        scores = model.predict(frame) if len(frame) else np.array([])
        order = np.argsort(-scores)
        response = InferenceResponse(
            request_id=f"r{at:%H%M}-{i}",
            best_driver_id=rows.driver_ids[order[0]],
            scores=[
                DriverScore(driver_id=rows.driver_ids[j], score=float(scores[j])) for j in order
            ],
            missing_driver_ids=rows.missing_driver_ids,
            model_name=champion.name,
            model_version=champion.version,
        )
        when = (at + timedelta(seconds=i)).timestamp()
        logged.append(LoggedRequest.of(when, response, rows))
    writer = PredictionLogWriter(get_store(), "driver_ranking", scores_log_dir())
    writer.write(to_batch(logged, FEATURES))


def _pushed_skew(pushgateway: Pushgateway) -> dict[str, float]:
    """The pushed `any` skew share per feature."""
    from prometheus_client.parser import text_string_to_metric_families

    shares = {}
    for family in text_string_to_metric_families(pushgateway.metrics()):
        for sample in family.samples:
            if sample.name == "driver_ranking_monitoring_skew_share" and (
                sample.labels["kind"] == "any"
            ):
                shares[sample.labels["feature"]] = sample.value
    return shares


def test_skew_is_zero_while_materialization_keeps_up_and_rises_while_it_is_paused(
    monitoring_env: Path,
    mlflow_env: MlflowServer,
    pushgateway_env: Pushgateway,
    redis_env: object,
) -> None:
    """Real Redis, real Feast materialization, the service's own feature reader: served
    features equal the offline point-in-time ones while materialization keeps up (skew 0);
    new statistics that reach the offline store but not Redis make the served ones stale
    (skew about 1 for the features that changed, the alert's input above its gate); once
    materialization resumes, the next window is clean again."""
    from data_pipeline.materialize import materialize
    from feature_store.apply import apply_repo
    from mlops_common.settings import get_mlflow_settings
    from monitoring_pipeline.monitor import monitor

    champion = register_tiny_champion(
        mlflow_env.uri, get_mlflow_settings().model_name, reference=True
    )
    base = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) - timedelta(hours=4)
    stats = drivers(1)
    ids = [*stats.index[:150], 999_999]  # an unknown id: missing on both sides, not skew
    _write_stats(stats.loc[stats.index[:150]], base, append=False)
    apply_repo(force=True)
    materialize(base + timedelta(seconds=1))

    # Healthy: Redis holds every driver's latest offline row.
    _serve_from_redis(champion, ids, 400, base + timedelta(minutes=10))
    healthy = monitor("healthy", base + timedelta(hours=1))
    assert healthy.skew is not None
    assert healthy.skew.rows == 2000  # sampled among 400 requests x 5 candidates
    assert healthy.skew.max_share == 0.0, healthy.skew
    assert not healthy.skew.detected
    assert _pushed_skew(pushgateway_env) == dict.fromkeys(FEATURES, 0.0)
    assert "training-serving skew on 2000 sampled served rows" in Path(healthy.report).read_text()

    # Paused: the upstream statistics move on (the offline store has them), Redis does not.
    moved = drivers(2).loc[stats.index[:150]]
    _write_stats(moved, base + timedelta(hours=1, minutes=5), append=True)
    _serve_from_redis(champion, ids, 400, base + timedelta(hours=1, minutes=20))
    paused = monitor("paused", base + timedelta(hours=2))
    assert paused.skew is not None
    assert paused.skew.detected
    assert paused.skew.features["conv_rate"].differing > 0.95
    assert paused.skew.features["conv_rate"].missing_served == 0.0
    pushed = _pushed_skew(pushgateway_env)
    assert pushed["conv_rate"] > 0.95
    assert 'driver_ranking_monitoring_skew_gate{instance="",job="monitoring"} 0.05' in (
        pushgateway_env.metrics()
    )

    # Resumed: the next window is served the statistics the offline store holds.
    materialize(base + timedelta(hours=2, minutes=1))
    _serve_from_redis(champion, ids, 400, base + timedelta(hours=2, minutes=10))
    resumed = monitor("resumed", base + timedelta(hours=3))
    assert resumed.skew is not None
    assert resumed.skew.max_share == 0.0, resumed.skew
    assert _pushed_skew(pushgateway_env) == dict.fromkeys(FEATURES, 0.0)
