"""HTTP behaviour of the service in-process: `to_asgi()` + Starlette TestClient, real Redis and
a real MLflow server behind it (the client is a context manager, so start-up runs)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from mlops_common.settings import reset_settings_cache
from starlette.testclient import TestClient

from .conftest import service_app

pytestmark = [pytest.mark.integration, pytest.mark.slow]

EXAMPLE = {"request_id": "uuid-1", "driver_ids": [1001, 1002, 1003, 1004, 1005]}


def _client() -> TestClient:
    return TestClient(service_app())


@pytest.fixture
def client(online_env: object) -> Iterator[TestClient]:
    with _client() as test_client:
        yield test_client


def test_inference_ranks_the_example(client: TestClient, online_env: object) -> None:
    answer = client.post("/inference", json=EXAMPLE)
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["request_id"] == "uuid-1"
    assert {s["driver_id"] for s in body["scores"]} == set(EXAMPLE["driver_ids"])
    scores = [s["score"] for s in body["scores"]]
    assert scores == sorted(scores, reverse=True)
    assert body["best_driver_id"] == body["scores"][0]["driver_id"]
    assert body["missing_driver_ids"] == []
    assert body["model_name"] == online_env.champion.name  # type: ignore[attr-defined]
    assert body["model_version"] == online_env.champion.version  # type: ignore[attr-defined]


def test_unknown_drivers_are_listed_not_errors(client: TestClient) -> None:
    answer = client.post("/inference", json={"request_id": "r", "driver_ids": [9001, 1003, 9002]})
    assert answer.status_code == 200
    body = answer.json()
    assert body["best_driver_id"] == 1003
    assert body["missing_driver_ids"] == [9001, 9002]


def test_no_driver_with_features_is_an_explicit_422(client: TestClient) -> None:
    answer = client.post("/inference", json={"request_id": "r2", "driver_ids": [9001, 9002]})
    assert answer.status_code == 422
    body = answer.json()
    assert body["error"] == "no_features"
    assert body["request_id"] == "r2"
    assert body["missing_driver_ids"] == [9001, 9002]


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"request_id": "r", "driver_ids": []}, "driver_ids"),
        ({"request_id": "r", "driver_ids": [1001, 1001]}, "driver_ids"),
        ({"request_id": "r", "driver_ids": [0]}, "driver_ids"),
        ({"request_id": "r", "driver_ids": [-5]}, "driver_ids"),
        ({"request_id": "r", "driver_ids": ["1001"]}, "driver_ids"),
        ({"request_id": "r", "driver_ids": [2**63]}, "driver_ids"),
        ({"request_id": "r", "driver_ids": list(range(1, 1002))}, "driver_ids"),
        ({"driver_ids": [1001]}, "request_id"),
        ({"request_id": "", "driver_ids": [1001]}, "request_id"),
    ],
)
def test_invalid_input_is_a_4xx_naming_the_field(
    client: TestClient, payload: dict[str, object], field: str
) -> None:
    answer = client.post("/inference", json=payload)
    assert 400 <= answer.status_code < 500
    assert field in answer.text


def test_max_driver_ids_comes_from_settings(
    online_env: object, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SERVING_MAX_DRIVER_IDS", "3")
    reset_settings_cache()
    with _client() as client:
        too_many = client.post("/inference", json={"request_id": "r", "driver_ids": [1, 2, 3, 4]})
        assert too_many.status_code == 400
        assert "at most 3" in too_many.text
        assert (
            client.post(
                "/inference", json={"request_id": "r", "driver_ids": [1001, 1002, 1003]}
            ).status_code
            == 200
        )


def test_api_key_required_when_configured(
    online_env: object, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SERVING_API_KEY", "s3cret")
    reset_settings_cache()
    with _client() as client:
        assert client.post("/inference", json=EXAMPLE).status_code == 401
        wrong = client.post("/inference", json=EXAMPLE, headers={"X-API-Key": "nope"})
        assert wrong.status_code == 401
        assert wrong.json()["error"] == "unauthorized"
        ok = client.post("/inference", json=EXAMPLE, headers={"X-API-Key": "s3cret"})
        assert ok.status_code == 200
        # health and metrics stay open
        assert client.get("/livez").status_code == 200
        assert client.get("/readyz").status_code == 200
        assert client.get("/metrics").status_code == 200


def test_readyz_reports_model_and_redis(client: TestClient, online_env: object) -> None:
    answer = client.get("/readyz")
    assert answer.status_code == 200
    body = answer.json()
    assert body["ready"] is True
    assert body["redis"] == "ok"
    assert body["model"]["version"] == online_env.champion.version  # type: ignore[attr-defined]
    assert body["registry"]["last_check_error"] is None


def test_metrics_expose_outcomes_and_model_version(client: TestClient) -> None:
    client.post("/inference", json=EXAMPLE)
    client.post("/inference", json={"request_id": "r", "driver_ids": [9001]})
    text = client.get("/metrics").text
    assert 'driver_ranking_requests_total{outcome="ok"}' in text
    assert 'driver_ranking_requests_total{outcome="no_features"}' in text
    assert "driver_ranking_feature_read_seconds_bucket" in text
    assert "driver_ranking_predict_seconds_bucket" in text
    assert "driver_ranking_model_info" in text
    assert "driver_ranking_drivers_without_features_total" in text


def test_swagger_ui_and_schema_carry_the_example(client: TestClient) -> None:
    assert client.get("/").status_code == 200
    schema = client.get("/docs.json").json()
    body = schema["paths"]["/inference"]["post"]["requestBody"]["content"]["application/json"]
    # The Swagger UI pre-fills "Try it out" with the schema's OpenAPI 3.0 `example`.
    assert body["schema"]["example"] == {
        "request_id": "uuid-1",
        "driver_ids": [1001, 1002, 1003, 1004, 1005],
    }
