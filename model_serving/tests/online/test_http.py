"""HTTP behaviour of the service in-process: `to_asgi()` + Starlette TestClient, real Redis and
a real MLflow server behind it (the client is a context manager, so start-up runs)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from mlops_common.settings import reset_settings_cache
from starlette.testclient import TestClient

from .conftest import metric_value, service_app

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
        ({"request_id": "", "driver_ids": [1001]}, "request_id"),
        ({"request_id": "r", "driver_ids": [1001], "extra": 1}, "extra"),
    ],
)
def test_invalid_input_is_a_400_naming_the_field(
    client: TestClient, payload: dict[str, object], field: str
) -> None:
    from online_service.schemas import ValidationErrorBody

    answer = client.post("/inference", json=payload)
    assert answer.status_code == 400
    body = ValidationErrorBody.model_validate(answer.json())  # the documented 400 body
    assert any(field in issue.loc for issue in body.detail), body


def test_documented_400_body_is_the_answered_one(client: TestClient) -> None:
    responses = client.get("/docs.json").json()["paths"]["/inference"]["post"]["responses"]
    schema = responses["400"]["content"]["application/json"]["schema"]
    assert schema == {"$ref": "#/components/schemas/ValidationErrorBody"}
    components = client.get("/docs.json").json()["components"]["schemas"]
    assert components["ValidationErrorBody"]["properties"]["detail"]["type"] == "array"


def test_request_id_is_generated_when_absent(client: TestClient) -> None:
    answer = client.post("/inference", json={"driver_ids": [1001, 1002]})
    assert answer.status_code == 200
    generated = answer.json()["request_id"]
    assert len(generated) == 32
    assert int(generated, 16) >= 0  # a uuid4 in hex
    assert answer.headers["X-Request-ID"] == generated
    again = client.post("/inference", json={"driver_ids": [1001, 1002]}).json()["request_id"]
    assert again != generated


def test_request_id_comes_from_the_header_and_the_body_wins(client: TestClient) -> None:
    from_header = client.post(
        "/inference", json={"driver_ids": [1001]}, headers={"X-Request-ID": "trip-42"}
    )
    assert from_header.json()["request_id"] == "trip-42"
    assert from_header.headers["X-Request-ID"] == "trip-42"
    both = client.post(
        "/inference",
        json={"request_id": "body-id", "driver_ids": [1001]},
        headers={"X-Request-ID": "header-id"},
    )
    assert both.json()["request_id"] == "body-id"
    assert both.headers["X-Request-ID"] == "body-id"
    no_features = client.post(
        "/inference", json={"driver_ids": [9001]}, headers={"X-Request-ID": "trip-43"}
    )
    assert no_features.status_code == 422
    assert no_features.json()["request_id"] == "trip-43"
    # An invalid body is refused before the handler: the caller's header is still echoed.
    invalid = client.post("/inference", json={"driver_ids": []}, headers={"X-Request-ID": "t-44"})
    assert invalid.status_code == 400
    assert invalid.headers["X-Request-ID"] == "t-44"


def test_malformed_request_id_header_is_a_400(client: TestClient) -> None:
    answer = client.post(
        "/inference", json={"driver_ids": [1001]}, headers={"X-Request-ID": "x" * 201}
    )
    assert answer.status_code == 400
    assert answer.json()["detail"][0]["loc"] == ["header", "X-Request-ID"]


def test_body_over_the_limit_is_a_413_before_parsing(
    online_env: object, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SERVING_MAX_BODY_BYTES", "2048")
    reset_settings_cache()
    with _client() as client:
        # Not even JSON: a parser would answer 400, the limit answers first.
        answer = client.post(
            "/inference", content=b"x" * 4096, headers={"Content-Type": "application/json"}
        )
        assert answer.status_code == 413
        assert answer.json()["error"] == "too_large"
        assert "SERVING_MAX_BODY_BYTES" in answer.json()["message"]
        # A chunked body (no Content-Length) is cut off at the limit too.
        chunked = client.post(
            "/inference",
            content=iter([b"[" * 1500, b"[" * 1500]),
            headers={"Content-Type": "application/json"},
        )
        assert chunked.status_code == 413
        assert client.post("/inference", json=EXAMPLE).status_code == 200


def test_twenty_megabytes_are_refused_by_the_default_limit(client: TestClient) -> None:
    answer = client.post(
        "/inference", content=b" " * 20_000_000, headers={"Content-Type": "application/json"}
    )
    assert answer.status_code == 413


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("TRACE", "/readyz"),
        ("POST", "/readyz"),
        ("DELETE", "/metrics"),
        ("PUT", "/docs.json"),
        ("GET", "/inference"),
        ("TRACE", "/livez"),
        ("PATCH", "/rank_bulk/submit"),
    ],
)
def test_undeclared_methods_are_405(client: TestClient, method: str, path: str) -> None:
    assert client.request(method, path).status_code == 405


def test_bentoml_task_routes_not_offered_are_404(client: TestClient) -> None:
    assert client.post("/rank_bulk", json={"requests": []}).status_code == 404
    assert client.post("/rank_bulk/retry?task_id=x").status_code == 404
    assert client.put("/rank_bulk/cancel?task_id=x").status_code == 404


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
        for path in ("/rank_bulk/submit", "/rank_bulk/status?task_id=x", "/rank_bulk/get"):
            method = "POST" if path.endswith("submit") else "GET"
            assert client.request(method, path, json={}).status_code == 401, path
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
    registry = body["registry"]
    assert registry["last_check_error"] is None
    assert registry["last_success_at"] is not None
    assert 0 <= registry["last_success_age_seconds"] < 3600
    assert registry["check_running_seconds"] is None or registry["check_running_seconds"] >= 0


def test_metrics_expose_outcomes_and_model_version(client: TestClient) -> None:
    client.post("/inference", json=EXAMPLE)
    client.post("/inference", json={"request_id": "r", "driver_ids": [9001]})
    client.post("/inference", json={"request_id": "r", "driver_ids": []})
    client.get("/readyz")
    text = client.get("/metrics").text

    def count(endpoint: str, status: int, outcome: str) -> float:
        value = metric_value(
            text,
            "driver_ranking_requests_total",
            endpoint=endpoint,
            status=str(status),
            outcome=outcome,
        )
        assert value is not None, (endpoint, status, outcome)
        return value

    assert count("/inference", 200, "ok") >= 1
    assert count("/inference", 422, "no_features") >= 1
    assert count("/inference", 400, "invalid_request") >= 1
    assert count("/readyz", 200, "ok") >= 1
    assert "driver_ranking_inference_seconds_bucket" in text
    assert "driver_ranking_requests_in_progress" in text
    assert "process_resident_memory_bytes" in text
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


def test_a_body_that_is_not_json_is_415(client: TestClient) -> None:
    answer = client.post(
        "/inference", content=b"--x--", headers={"Content-Type": "multipart/form-data"}
    )
    assert answer.status_code == 415
    assert answer.json()["error"] == "unsupported_media_type"
