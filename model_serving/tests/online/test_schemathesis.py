"""Property-based check of the OpenAPI contract: no input, valid or not, gets a 5xx."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import schemathesis

from .conftest import OnlineEnv, service_app

pytestmark = [pytest.mark.integration, pytest.mark.slow]


@pytest.fixture
def client(online_env: OnlineEnv) -> Iterator[object]:
    from starlette.testclient import TestClient

    with TestClient(service_app()) as test_client:  # start-up runs once: model, Redis reader
        yield test_client


def test_inference_never_answers_5xx(client) -> None:
    from hypothesis import HealthCheck, given, settings
    from schemathesis import GenerationMode

    # The schema as the service publishes it; requests go through the same started client
    # (schemathesis' own ASGI transport would run the app's start-up and shutdown again).
    schema = schemathesis.openapi.from_dict(client.get("/docs.json").json())
    operation = schema["/inference"]["POST"]
    statuses: set[int] = set()

    for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):

        @settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
        @given(case=operation.as_strategy(generation_mode=mode))
        def check(case) -> None:
            # A negative case may have no body (schemathesis' NotSet marker) or raw bytes.
            if type(case.body).__name__ == "NotSet":
                body: dict[str, object] = {}
            elif isinstance(case.body, bytes):
                body = {"content": case.body, "headers": {"Content-Type": "application/json"}}
            else:
                body = {"json": case.body}
            response = client.post("/inference", **body)
            statuses.add(response.status_code)
            assert response.status_code < 500, (case.body, response.text)

        check()
    assert statuses & {200, 422}, statuses  # some valid requests reached the model
    assert 400 in statuses
