"""End to end: a real `bentoml serve` process against a real Redis and MLflow server, and the
faults it must survive (Redis stopped under load, champion moved while serving)."""

from __future__ import annotations

import os
import signal
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
from mlops_testing import register_tiny_champion

from .conftest import KNOWN_IDS, OnlineEnv, materialize_features, metric_value

pytestmark = [pytest.mark.integration, pytest.mark.slow]

EXAMPLE = {"request_id": "uuid-1", "driver_ids": [1001, 1002, 1003, 1004, 1005]}


def test_serves_the_example_with_sync_client(served: str, online_env: OnlineEnv) -> None:
    import bentoml

    with bentoml.SyncHTTPClient(served) as client:
        answer = client.inference(EXAMPLE)  # the request model is the one root input
    assert answer["request_id"] == "uuid-1"
    assert answer["model_version"] == online_env.champion.version
    assert answer["best_driver_id"] in EXAMPLE["driver_ids"]


def test_redis_stopped_under_load_gives_fast_503_and_recovers(
    served: str, online_env: OnlineEnv
) -> None:
    stop = time.monotonic() + 60
    results: list[tuple[float, int, float]] = []  # (sent at, status, seconds)

    def hammer() -> None:
        with httpx.Client(timeout=10) as client:
            while time.monotonic() < stop and not done:
                sent = time.monotonic()
                status = client.post(f"{served}/inference", json=EXAMPLE).status_code
                results.append((sent, status, time.monotonic() - sent))

    done = False
    with ThreadPoolExecutor(4) as pool:
        futures = [pool.submit(hammer) for _ in range(4)]
        time.sleep(1.5)
        online_env.redis.stop()
        time.sleep(3)
        down = [r for r in results if r[1] == 503]
        online_env.redis.start()
        back_at = time.monotonic()
        materialize_features(KNOWN_IDS)  # the restarted Redis holds no data
        recovered_at = None
        while time.monotonic() < back_at + 30:
            if httpx.post(f"{served}/inference", json=EXAMPLE, timeout=10).status_code == 200:
                recovered_at = time.monotonic()
                break
            time.sleep(0.1)
        done = True
        for future in futures:
            future.result()

    statuses = {status for _, status, _ in results}
    assert statuses <= {200, 503, 422}, statuses  # 422 only while data is being reloaded
    assert down, "no 503 while Redis was stopped"
    assert max(seconds for _, status, seconds in results if status == 503) < 2.0
    assert recovered_at is not None
    # Recovery is measured from the moment the data is back (a new Redis starts empty).
    assert httpx.get(f"{served}/readyz", timeout=5).status_code == 200


def test_moved_champion_is_served_without_restart(served: str, online_env: OnlineEnv) -> None:
    first = httpx.post(f"{served}/inference", json=EXAMPLE, timeout=10).json()
    assert first["model_version"] == online_env.champion.version
    newer = register_tiny_champion(online_env.mlflow.uri, online_env.champion.name, seed=5)
    deadline = time.monotonic() + 30  # refresh interval is 1 s in these tests
    version = first["model_version"]
    while time.monotonic() < deadline and version != newer.version:
        time.sleep(0.5)
        version = httpx.post(f"{served}/inference", json=EXAMPLE, timeout=10).json()[
            "model_version"
        ]
    assert version == newer.version
    metrics = httpx.get(f"{served}/metrics", timeout=10).text
    assert f'model_version="{newer.version}"' in metrics


def test_hung_redis_gives_503_within_the_socket_timeout(served: str, online_env: OnlineEnv) -> None:
    from mlops_common.settings import get_redis_settings

    socket_timeout = get_redis_settings().socket_timeout
    assert httpx.post(f"{served}/inference", json=EXAMPLE, timeout=10).status_code == 200
    pid = online_env.redis.process.pid
    os.kill(pid, signal.SIGSTOP)  # the process is there, its socket accepts, nothing answers
    try:
        started = time.monotonic()
        answer = httpx.post(f"{served}/inference", json=EXAMPLE, timeout=10)
        elapsed = time.monotonic() - started
        assert answer.status_code == 503
        assert answer.json()["error"] == "unavailable"
        # One socket timeout (a timeout is not retried) plus the request's own handling.
        assert elapsed < socket_timeout + 1.0, elapsed
        # The event loop is not held: readiness answers (not ready) meanwhile.
        assert httpx.get(f"{served}/readyz", timeout=10).status_code == 503
    finally:
        os.kill(pid, signal.SIGCONT)
    deadline = time.monotonic() + 30
    status = 0
    while time.monotonic() < deadline and status != 200:
        status = httpx.post(f"{served}/inference", json=EXAMPLE, timeout=10).status_code
        time.sleep(0.1)
    assert status == 200  # recovered by itself


def test_bulk_task_equals_one_by_one_inference(served: str, online_env: OnlineEnv) -> None:
    requests = [
        {"request_id": "trip-1", "driver_ids": [1001, 1002, 1003, 1004, 1005]},
        {"request_id": "trip-2", "driver_ids": [9001, 1007, 9002]},
        {"request_id": "trip-3", "driver_ids": [9001, 9002]},  # 422 no_features
        {"request_id": "trip-4", "driver_ids": list(KNOWN_IDS)},
    ]
    one_by_one = [httpx.post(f"{served}/inference", json=r, timeout=10) for r in requests]
    submitted = httpx.post(f"{served}/rank_bulk/submit", json={"requests": requests}, timeout=10)
    assert submitted.status_code == 200, submitted.text
    task_id = submitted.json()["task_id"]
    deadline = time.monotonic() + 60
    status = "in_progress"
    while time.monotonic() < deadline and status == "in_progress":
        time.sleep(0.2)
        answer = httpx.get(f"{served}/rank_bulk/status", params={"task_id": task_id}, timeout=10)
        assert answer.status_code == 200, answer.text
        status = answer.json()["status"]
    assert status == "completed"
    results = httpx.get(f"{served}/rank_bulk/get", params={"task_id": task_id}, timeout=10)
    assert results.status_code == 200
    got = results.json()["results"]
    assert [item["status"] for item in got] == [a.status_code for a in one_by_one]
    assert [item["body"] for item in got] == [a.json() for a in one_by_one]
    assert [item["status"] for item in got] == [200, 200, 422, 200]


def test_bulk_submission_is_validated_before_a_task_exists(served: str) -> None:
    invalid = {"requests": [{"driver_ids": [1001]}, {"driver_ids": [1001, 1001]}]}
    answer = httpx.post(f"{served}/rank_bulk/submit", json=invalid, timeout=10)
    assert answer.status_code == 400
    assert "task_id" not in answer.json()
    assert any(issue["loc"][:2] == ["requests", 1] for issue in answer.json()["detail"])
    unknown = httpx.get(f"{served}/rank_bulk/status", params={"task_id": "nope"}, timeout=10)
    assert unknown.status_code == 404


def test_metrics_of_the_served_worker(served: str) -> None:
    # Imported here, not at module level: prometheus_client picks its value store when first
    # imported, and the in-process service tests need it imported after BentoML set it up.
    from prometheus_client.parser import text_string_to_metric_families

    httpx.post(f"{served}/inference", json=EXAMPLE, timeout=10)
    text = httpx.get(f"{served}/metrics", timeout=10).text
    ok = metric_value(
        text, "driver_ranking_requests_total", endpoint="/inference", status="200", outcome="ok"
    )
    assert ok is not None
    assert ok >= 1
    assert "driver_ranking_inference_seconds_bucket" in text
    memory = [
        sample.labels
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == "process_resident_memory_bytes"
    ]
    assert memory
    assert all(labels["pid"].isdigit() for labels in memory)
    assert "bentoml_service_request_total" not in text  # BentoML's middleware is off
