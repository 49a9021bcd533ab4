"""A real `bentoml serve` under concurrent load, then a graceful stop: every answered
/inference request is in the prediction log (features through Feast's feature logging,
scores and model version beside), none twice, none lost."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
from mlops_common.paths import feature_log_dir, scores_log_dir
from prediction_log.reader import read_feature_log, read_predictions

from .conftest import OnlineEnv, bentoml_serve

pytestmark = [pytest.mark.integration, pytest.mark.slow]

REQUESTS_PER_THREAD = 150
THREADS = 4


def test_logged_requests_equal_answered_requests_after_graceful_stop(
    online_env: OnlineEnv, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Small batches and a long timer: most rows are written by size, the rest at shutdown.
    monkeypatch.setenv("PREDICTION_LOG_FLUSH_ROWS", "64")
    monkeypatch.setenv("PREDICTION_LOG_FLUSH_SECONDS", "3600")
    monkeypatch.setenv("SERVING_ACCESS_LOG", "false")
    answers: dict[str, dict[str, object]] = {}
    statuses: list[int] = []
    # Stopped gracefully when the block ends: the shutdown hook writes the rest of the log.
    with bentoml_serve(tmp_path, stop_timeout=60) as (url, log):

        def client(worker: int) -> None:
            with httpx.Client(timeout=30) as http:
                for i in range(REQUESTS_PER_THREAD):
                    request_id = f"w{worker}-{i}"
                    # Every 10th request also names a driver without features; every 50th
                    # names only such drivers (422, not an answer with a ranking).
                    ids = [1001 + (i + k) % 20 for k in range(5)]
                    if i % 10 == 0:
                        ids.append(9001)
                    if i % 50 == 49:
                        ids = [9002, 9003]
                    response = http.post(
                        f"{url}/inference", json={"request_id": request_id, "driver_ids": ids}
                    )
                    statuses.append(response.status_code)
                    if response.status_code == 200:
                        answers[request_id] = response.json()

        with ThreadPoolExecutor(THREADS) as pool:
            list(pool.map(client, range(THREADS)))

    assert statuses.count(200) == len(answers) > 0
    assert statuses.count(422) == THREADS * (REQUESTS_PER_THREAD // 50)
    predictions = read_predictions(scores_log_dir()).to_pandas()
    features = read_feature_log(feature_log_dir())
    assert features is not None
    logged = set(predictions["request_id"])
    assert logged == set(answers), (
        f"{len(set(answers) - logged)} answered requests not logged, "
        f"{len(logged - set(answers))} logged but not answered"
    )
    candidates = sum(
        len(a["scores"]) + len(a["missing_driver_ids"])  # type: ignore[arg-type]
        for a in answers.values()
    )
    assert len(predictions) == candidates == features.num_rows
    assert not predictions.duplicated(["request_id", "driver_id"]).any()
    chosen = predictions[predictions["chosen"]].set_index("request_id")["driver_id"]
    assert chosen.to_dict() == {rid: a["best_driver_id"] for rid, a in answers.items()}
    assert set(predictions["model_version"]) == {online_env.champion.version}
    assert "prediction log closed" in log.read_text()
