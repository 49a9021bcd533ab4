"""Property-based check of the OpenAPI contract: no input, valid or not, gets a 5xx.

Needs `schemathesis` (to be added to the dev dependency group); skipped without it.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from .conftest import OnlineEnv, service_app

schemathesis = pytest.importorskip("schemathesis")

pytestmark = [pytest.mark.integration, pytest.mark.slow]


@pytest.fixture
def app(online_env: OnlineEnv) -> Iterator[object]:
    from starlette.testclient import TestClient

    asgi = service_app()
    with TestClient(asgi):  # runs start-up: model loaded, Redis reader built
        yield asgi


def test_inference_never_answers_5xx(app: object) -> None:
    from hypothesis import HealthCheck, given, settings
    from schemathesis import GenerationMode

    schema = schemathesis.openapi.from_asgi("/docs.json", app)
    operation = schema["/inference"]["POST"]
    statuses: set[int] = set()

    for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):

        @settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
        @given(case=operation.as_strategy(generation_mode=mode))
        def check(case) -> None:  # type: ignore[no-untyped-def]
            response = case.call()
            statuses.add(response.status_code)
            assert response.status_code < 500, (case.body, response.text)

        check()
    assert statuses & {200, 422}, statuses  # some valid requests reached the model
    assert 400 in statuses
