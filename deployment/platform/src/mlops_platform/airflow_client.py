"""A small client for Airflow 3's REST API: log in, unpause, trigger a DAG run, follow it.

Written on httpx rather than the `apache-airflow-client` package: we need five endpoints, and
that package pins its own urllib3/pydantic ranges into the pipelines' environment.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx
from mlops_common.errors import UserError
from tenacity import Retrying, retry_if_exception, stop_after_attempt, wait_exponential

from mlops_platform.processes import wait_for

FINISHED = {"success", "failed"}
# Answers worth another try: the api-server's SQLite metadata database answers "database is
# locked" (a 500) while the scheduler and running tasks write to it, and a restarting
# api-server answers 502-504 or not at all.
TRANSIENT_STATUS = {500, 502, 503, 504}
ATTEMPTS = 6


def _transient(error: BaseException) -> bool:
    if isinstance(error, httpx.HTTPStatusError):
        return error.response.status_code in TRANSIENT_STATUS
    return isinstance(error, httpx.TransportError)


@dataclass
class DagRunResult:
    dag_id: str
    run_id: str
    state: str
    seconds: float
    task_states: dict[str, str | None]

    @property
    def failed_tasks(self) -> list[str]:
        return [task for task, state in self.task_states.items() if state == "failed"]


class AirflowClient:
    """Talks to the api-server at URL as USER (a token from `POST /auth/token`, which the
    simple auth manager of the local platform and the FAB one of compose both serve)."""

    def __init__(
        self,
        url: str,
        user: str,
        password: str,
        timeout: float = 30,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.url = url.rstrip("/")
        self._http = httpx.Client(base_url=self.url, timeout=timeout, transport=transport)
        response = self._http.post("/auth/token", json={"username": user, "password": password})
        if response.status_code not in (200, 201):
            raise UserError(
                f"Airflow at {self.url} refused the login of {user!r} "
                f"({response.status_code}); check the password shown by `make status`"
            )
        self._http.headers["Authorization"] = f"Bearer {response.json()['access_token']}"

    def close(self) -> None:
        self._http.close()

    def _request(
        self, method: str, path: str, *, accept: tuple[int, ...] = (), **kwargs: Any
    ) -> Any:
        """METHOD /api/v2PATH, retried on transient failures (every call here is idempotent:
        triggers name their run id). A status in ACCEPT counts as success. After the last try,
        one `UserError` line names the call and the api-server's answer."""

        def call() -> httpx.Response:
            response = self._http.request(method, f"/api/v2{path}", **kwargs)
            if response.status_code not in accept:
                response.raise_for_status()
            return response

        retrying = Retrying(
            stop=stop_after_attempt(ATTEMPTS),
            wait=wait_exponential(multiplier=0.5, max=8),
            retry=retry_if_exception(_transient),
            reraise=True,
        )
        try:
            response = retrying(call)
        except httpx.HTTPStatusError as exc:
            raise UserError(
                f"Airflow at {self.url} answered {exc.response.status_code} to {method} "
                f"/api/v2{path}: {exc.response.text[:300]}; see the api-server log "
                "(`make status` lists it)"
            ) from None
        except httpx.TransportError as exc:
            raise UserError(
                f"Airflow at {self.url} did not answer {method} /api/v2{path} after {ATTEMPTS} "
                f"tries ({type(exc).__name__}); is it running? `make status`"
            ) from None
        return response.json() if response.content else None

    def wait_for_dag(self, dag_id: str, timeout: float = 120) -> None:
        """Wait until the dag-processor has parsed DAG_ID (new files take a refresh interval)."""
        wait_for(
            lambda: self._http.get(f"/api/v2/dags/{dag_id}").status_code == 200,
            timeout=timeout,
            interval=2,
            timeout_error=lambda: UserError(
                f"DAG {dag_id!r} is not known to Airflow after {timeout:.0f} s; check "
                "`make airflow ARGS='dags list-import-errors'`"
            ),
        )

    def unpause(self, dag_id: str) -> None:
        self._request("PATCH", f"/dags/{dag_id}", json={"is_paused": False})

    def is_paused(self, dag_id: str) -> bool:
        return bool(self._request("GET", f"/dags/{dag_id}")["is_paused"])

    def pause(self, dag_id: str) -> None:
        """No new runs of DAG_ID start (scheduled or by an asset) until `unpause`."""
        self._request("PATCH", f"/dags/{dag_id}", json={"is_paused": True})

    def trigger(self, dag_id: str, conf: dict[str, Any] | None = None) -> str:
        """Start a run of DAG_ID by hand; its run id. The id is chosen here (Airflow's own
        `manual__<time>` form), so a retried POST whose first try did land answers 409 for the
        same run instead of starting a second one."""
        run_id = f"manual__{datetime.now(UTC).isoformat()}"
        self._request(
            "POST",
            f"/dags/{dag_id}/dagRuns",
            accept=(409,),
            json={"dag_run_id": run_id, "logical_date": None, "conf": conf or {}},
        )
        return run_id

    def run_ids(self, dag_id: str) -> set[str]:
        """The ids of DAG_ID's latest runs (up to 100)."""
        payload = self._request(
            "GET", f"/dags/{dag_id}/dagRuns", params={"order_by": "-run_after", "limit": 100}
        )
        return {run["dag_run_id"] for run in payload["dag_runs"]}

    def runs(self, dag_id: str) -> list[dict[str, Any]]:
        """DAG_ID's latest runs, newest first (id, type, state, run_after, conf)."""
        payload = self._request(
            "GET", f"/dags/{dag_id}/dagRuns", params={"order_by": "-run_after", "limit": 100}
        )
        return list(payload["dag_runs"])

    def new_run(self, dag_id: str, known: set[str], timeout: float) -> str | None:
        """The id of a run of DAG_ID not in KNOWN, started by the scheduler (a schedule or an
        asset event) within TIMEOUT seconds; None when none appears."""

        def probe() -> str | None:
            for run in self.runs(dag_id):
                if run["dag_run_id"] not in known and run["run_type"] != "manual":
                    return str(run["dag_run_id"])
            return None

        try:
            return wait_for(probe, timeout=timeout, interval=2, timeout_error=TimeoutError)
        except TimeoutError:
            return None

    def run_state(self, dag_id: str, run_id: str) -> str:
        return str(self._request("GET", f"/dags/{dag_id}/dagRuns/{run_id}")["state"])

    def task_states(self, dag_id: str, run_id: str) -> dict[str, str | None]:
        payload = self._request("GET", f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances")
        return {ti["task_id"]: ti["state"] for ti in payload["task_instances"]}

    def wait_for_run(
        self,
        dag_id: str,
        run_id: str,
        timeout: float,
        on_progress: Callable[[dict[str, str | None]], None] | None = None,
    ) -> DagRunResult:
        """Poll the run until it succeeds or fails; report task states as they change."""
        started = time.monotonic()
        last: dict[str, str | None] = {}
        state = "unknown"

        def finished() -> DagRunResult | None:
            nonlocal last, state
            state = self.run_state(dag_id, run_id)
            tasks = self.task_states(dag_id, run_id)
            if tasks != last and on_progress is not None:
                on_progress(tasks)
            last = tasks
            if state not in FINISHED:
                return None
            return DagRunResult(dag_id, run_id, state, time.monotonic() - started, tasks)

        return wait_for(
            finished,
            timeout=timeout,
            interval=2,
            timeout_error=lambda: UserError(
                f"DAG run {dag_id}/{run_id} still {state} after {timeout:.0f} s; "
                f"follow it in the Airflow UI at {self.url}"
            ),
        )
