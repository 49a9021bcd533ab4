"""Shadow scoring under a real `bentoml serve`: a challenger that raises on every request
changes neither the champion's answers nor the error rate; a loaded challenger's scores reach
the prediction log beside the champion's; both are swapped without a restart when the
`challenger` alias moves, and dropped when it goes."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import mlflow
import pyarrow.dataset as ds
import pytest
from mlops_common.paths import feature_log_dir, scores_log_dir
from mlops_testing import register_raising_model, register_tiny_champion
from prediction_log import schema
from prediction_log.reader import served_rows

from .conftest import OnlineEnv, bentoml_serve, metric_value

pytestmark = [pytest.mark.integration, pytest.mark.slow]

REQUESTS = [
    [1001 + (i + k) % 20 for k in range(5)] + ([9001] if i % 7 == 0 else []) for i in range(40)
]


def ask(url: str, phase: str) -> list[tuple[int, dict[str, Any]]]:
    """Every request of REQUESTS, with request ids of PHASE: (status, body) each."""
    answers = []
    with httpx.Client(timeout=30) as http:
        for i, driver_ids in enumerate(REQUESTS):
            response = http.post(
                f"{url}/inference", json={"request_id": f"{phase}-{i}", "driver_ids": driver_ids}
            )
            answers.append((response.status_code, response.json()))
    return answers


def without_request_id(answers: list[tuple[int, dict[str, Any]]]) -> list[Any]:
    return [
        (status, {k: v for k, v in body.items() if k != "request_id"}) for status, body in answers
    ]


def wait_for(url: str, check: Any, what: str, timeout: float = 60) -> dict[str, Any]:
    """Poll /readyz until CHECK(its challenger part) holds; that part."""
    deadline = time.monotonic() + timeout
    challenger: dict[str, Any] = {}
    while time.monotonic() < deadline:
        challenger = httpx.get(f"{url}/readyz", timeout=10).json()["challenger"]
        if check(challenger):
            return challenger
        time.sleep(0.5)
    pytest.fail(f"/readyz never showed {what}: {challenger}")


def held_version(challenger: dict[str, Any]) -> str | None:
    model = challenger["model"]
    return model["version"] if model else None


def test_a_challenger_never_changes_an_answer_and_its_scores_reach_the_log(
    online_env: OnlineEnv, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PREDICTION_LOG_FLUSH_SECONDS", "0.5")
    monkeypatch.setenv("SERVING_ACCESS_LOG", "false")
    name, uri = online_env.champion.name, online_env.mlflow.uri
    client = mlflow.MlflowClient(uri)
    with bentoml_serve(tmp_path, stop_timeout=60) as (url, log):
        # No challenger: the champion alone, the baseline answers.
        assert held_version(httpx.get(f"{url}/readyz", timeout=10).json()["challenger"]) is None
        alone = ask(url, "alone")
        assert {status for status, _ in alone} == {200}

        # A challenger that raises on every prediction.
        raising = register_raising_model(uri, name, alias="challenger")
        wait_for(url, lambda c: held_version(c) == raising, f"challenger v{raising}")
        with_raising = ask(url, "raising")
        assert without_request_id(with_raising) == without_request_id(alone)
        failing = wait_for(
            url, lambda c: c["scoring"]["failed_requests"] > 0, "the challenger's failures"
        )
        assert "raises on every prediction" in failing["scoring"]["last_error"]
        assert httpx.get(f"{url}/readyz", timeout=10).status_code == 200  # still ready

        # A sound challenger replaces it without a restart.
        good = register_tiny_champion(uri, name, alias="challenger", seed=3)
        wait_for(url, lambda c: held_version(c) == good.version, f"challenger v{good.version}")
        with_good = ask(url, "good")
        assert without_request_id(with_good) == without_request_id(alone)
        wait_for(url, lambda c: c["scoring"]["scored_requests"] >= len(REQUESTS), "scores")

        metrics = httpx.get(f"{url}/metrics", timeout=10).text
        assert metric_value(
            metrics,
            "driver_ranking_requests_total",
            endpoint="/inference",
            status="200",
            outcome="ok",
        ) == 3 * len(REQUESTS)
        for status, outcome in (("503", "features_unavailable"), ("503", "model_unavailable")):
            assert (
                metric_value(
                    metrics,
                    "driver_ranking_requests_total",
                    endpoint="/inference",
                    status=status,
                    outcome=outcome,
                )
                == 0
            )
        assert metric_value(
            metrics, "driver_ranking_shadow_requests_total", outcome="failed"
        ) == len(REQUESTS)
        assert metric_value(
            metrics, "driver_ranking_shadow_requests_total", outcome="scored"
        ) == len(REQUESTS)
        assert (
            metric_value(
                metrics,
                "driver_ranking_challenger_info",
                model_name=name,
                model_version=good.version,
            )
            == 1
        )
        assert (
            metric_value(
                metrics, "driver_ranking_challenger_info", model_name=name, model_version=raising
            )
            == 0
        )
        started = metric_value(metrics, "driver_ranking_challenger_started_timestamp_seconds")
        assert started is not None
        assert 0 < started <= time.time()

        # The alias goes (promoted or retired): the challenger is dropped.
        client.delete_registered_model_alias(name, "challenger")
        wait_for(url, lambda c: held_version(c) is None, "no challenger")
        dropped = httpx.get(f"{url}/metrics", timeout=10).text
        assert metric_value(dropped, "driver_ranking_challenger_started_timestamp_seconds") == 0

    logged = ds.dataset(str(scores_log_dir()), schema=schema.PREDICTIONS_SCHEMA)
    rows = logged.to_table().to_pandas()
    phase = rows[schema.REQUEST_ID].str.split("-").str[0]
    assert set(phase) == {"alone", "raising", "good"}
    quiet = rows[phase != "good"]
    assert quiet[schema.CHALLENGER_VERSION].isna().all()
    assert quiet[schema.CHALLENGER_SCORE].isna().all()

    # Every scored driver of the good phase has the challenger's score of its served features.
    shadowed = rows[phase == "good"]
    found = shadowed[shadowed[schema.SCORE].notna()]
    assert (found[schema.CHALLENGER_VERSION] == good.version).all()
    assert shadowed[shadowed[schema.SCORE].isna()][schema.CHALLENGER_SCORE].isna().all()
    features = list(good.features)
    served = served_rows(
        scores_log_dir(),
        feature_log_dir(),
        datetime(2000, 1, 1, tzinfo=UTC),
        datetime(2100, 1, 1, tzinfo=UTC),
        features,
    )
    frame = found.merge(served[[schema.REQUEST_ID, schema.DRIVER_ID, *features]], how="inner")
    assert len(frame) == len(found)
    expected = good.model.predict(frame[features])  # type: ignore[attr-defined]
    assert frame[schema.CHALLENGER_SCORE].to_numpy() == pytest.approx(expected, rel=1e-9)
    # The champion's answers are the logged scores, as before.
    assert (found[schema.MODEL_VERSION] == online_env.champion.version).all()
    assert "challenger" in log.read_text()
