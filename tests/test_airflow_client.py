"""The Airflow REST client under api-server faults (injected: a real api-server answers
"database is locked" only under load, see the e2e tests for the real runs)."""

from __future__ import annotations

import json

import httpx
import pytest
from mlops_common.errors import UserError
from mlops_platform import airflow_client
from mlops_platform.airflow_client import AirflowClient


class FlakyAirflow:
    """Answers the token request, then FAILURES times STATUS for every other call, then 200."""

    def __init__(self, failures: int, status: int = 500, landed_status: int = 200) -> None:
        self.failures = failures
        self.status = status
        self.landed_status = landed_status
        self.calls: list[tuple[str, str, dict[str, object]]] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        if request.url.path == "/auth/token":
            return httpx.Response(201, json={"access_token": "t"})
        body = json.loads(request.content) if request.content else {}
        self.calls.append((request.method, request.url.path, body))
        if len(self.calls) <= self.failures:
            return httpx.Response(self.status, text="sqlite3.OperationalError: database is locked")
        if len(self.calls) > 1 and request.method == "POST":
            return httpx.Response(self.landed_status, json={"detail": "already exists"})
        return httpx.Response(200, json={"dag_run_id": body.get("dag_run_id", "x")})


@pytest.fixture(autouse=True)
def _no_waiting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(airflow_client, "wait_exponential", lambda **_: lambda _state: 0)


def client(server: FlakyAirflow) -> AirflowClient:
    return AirflowClient("http://airflow", "admin", "pw", transport=httpx.MockTransport(server))


def test_a_locked_database_is_retried_until_the_call_lands() -> None:
    server = FlakyAirflow(failures=2)
    client(server).unpause("training_pipeline")
    assert [c[:2] for c in server.calls] == [("PATCH", "/api/v2/dags/training_pipeline")] * 3


def test_a_retried_trigger_that_had_landed_is_the_same_run() -> None:
    server = FlakyAirflow(failures=1, landed_status=409)
    run_id = client(server).trigger("monitoring", conf={"window_minutes": 1})
    assert run_id.startswith("manual__")
    ids = {c[2]["dag_run_id"] for c in server.calls}
    assert ids == {run_id}, "every try names the same run"
    assert len(server.calls) == 2


def test_a_lasting_failure_is_one_line_naming_the_call() -> None:
    server = FlakyAirflow(failures=99)
    with pytest.raises(UserError, match=r"answered 500 to PATCH /api/v2/dags/x: .*locked"):
        client(server).unpause("x")
    assert len(server.calls) == airflow_client.ATTEMPTS


def test_a_client_error_is_not_retried() -> None:
    server = FlakyAirflow(failures=99, status=404)
    with pytest.raises(UserError, match="answered 404"):
        client(server).unpause("missing")
    assert len(server.calls) == 1
