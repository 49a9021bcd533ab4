"""One demo run per session: the platform on free ports with small data, driven by
`mlops-platform demo` exactly as `make demo` does, shared by the end-to-end and browser tests."""

from __future__ import annotations

import os
import re
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from mlops_common.settings import project_root
from mlops_testing import free_port

PLATFORM = project_root() / ".venv" / "bin" / "mlops-platform"
SCREENSHOTS = project_root() / "test-artifacts" / "screenshots"
LOGS = project_root() / "test-artifacts" / "e2e"


@dataclass
class Demo:
    env: dict[str, str]
    output: str
    returncode: int

    @property
    def airflow_url(self) -> str:
        return f"http://127.0.0.1:{self.env['AIRFLOW_PORT']}"

    @property
    def mlflow_url(self) -> str:
        return f"http://127.0.0.1:{self.env['MLFLOW_PORT']}"

    @property
    def serving_url(self) -> str:
        return f"http://127.0.0.1:{self.env['SERVING_PORT']}"

    @property
    def prometheus_url(self) -> str:
        return f"http://127.0.0.1:{self.env['PROMETHEUS_PORT']}"

    @property
    def state_dir(self) -> Path:
        return Path(self.env["MLOPS_STATE_DIR"])

    def admin_password(self) -> str:
        import json

        passwords = self.state_dir / "airflow" / "simple_auth_manager_passwords.json.generated"
        return str(json.loads(passwords.read_text())["admin"])

    def api(self) -> httpx.Client:
        """An authenticated client for Airflow's REST API."""
        token = httpx.post(
            f"{self.airflow_url}/auth/token",
            json={"username": "admin", "password": self.admin_password()},
            timeout=30,
        ).json()["access_token"]
        return httpx.Client(
            base_url=f"{self.airflow_url}/api/v2",
            headers={"Authorization": f"Bearer {token}"},
            timeout=30,
        )


def _keep_log(name: str, output: str, root: Path) -> None:
    """NAME in the session's folder and in test-artifacts/e2e/ (kept after the run, for CI)."""
    (root / name).write_text(output)
    LOGS.mkdir(parents=True, exist_ok=True)
    (LOGS / name).write_text(output)


@pytest.fixture(scope="session")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Demo]:
    root = tmp_path_factory.mktemp("demo")
    env = {
        **os.environ,
        "MLOPS_STATE_DIR": str(root / "state"),
        "MLOPS_ARTIFACT_ROOT": str(root / "artifacts"),
        "MLOPS_DATA_DIR": str(root / "data"),
        "REDIS_PORT": str(free_port()),
        "MLFLOW_PORT": str(free_port()),
        "AIRFLOW_PORT": str(free_port()),
        "SERVING_PORT": str(free_port()),
        "PROMETHEUS_PORT": str(free_port()),
        "PROMETHEUS_PUSHGATEWAY_PORT": str(free_port()),
        # Small data: the flow is the same, the minutes are fewer.
        "DATA_N_DRIVERS": "200",
        "DATA_DAYS": "3",
        "DATA_N_ORDERS": "6000",
        "DATA_N_BATCH_REQUESTS": "800",
        "AIRFLOW_DAG_REFRESH_SECONDS": "10",
        "MLOPS_TASK_RETRIES": "1",
        "MLOPS_TASK_RETRY_DELAY_SECONDS": "5",
    }
    for key in ("MLFLOW_TRACKING_URI", "MLOPS_TASK_MODE"):
        env.pop(key, None)
    result = subprocess.run(
        [str(PLATFORM), "demo"],
        env=env,
        capture_output=True,
        text=True,
        timeout=2400,
        check=False,
    )
    output = result.stdout + result.stderr
    _keep_log("demo.log", output, root)
    try:
        yield Demo(env, output, result.returncode)
    finally:
        subprocess.run([str(PLATFORM), "down"], env=env, check=False, timeout=180)


@dataclass
class DemoDrift:
    output: str
    returncode: int

    def followed_runs(self, dag_id: str) -> list[tuple[str, str]]:
        """(run id, state) of each DAG_ID run the demo followed to its end, in order, as it
        printed them. The platform's own schedules (monitoring and materialize are hourly) may
        add runs of the same DAGs meanwhile; the assertions are about the demo's runs."""
        pattern = re.compile(rf"^  {re.escape(dag_id)} (\S+): (\w+) in ", re.MULTILINE)
        return pattern.findall(self.output)

    def started_runs(self, dag_id: str, cause: str) -> list[str]:
        """The ids of the DAG_ID runs the demo reported as started by the CAUSE asset event, in
        order."""
        found = re.findall(
            rf"{re.escape(dag_id)} run (\S+) started by the {cause} event", self.output
        )
        assert found, f"no {dag_id} run started by the {cause} event in:\n{self.output[-3000:]}"
        return found


@pytest.fixture(scope="session")
def demo_drift(demo: Demo) -> DemoDrift:
    """`mlops-platform demo-drift` on the platform the demo left running (`make demo_drift`)."""
    result = subprocess.run(
        [str(PLATFORM), "demo-drift"],
        env=demo.env,
        capture_output=True,
        text=True,
        timeout=2400,
        check=False,
    )
    output = result.stdout + result.stderr
    _keep_log("demo_drift.log", output, demo.state_dir.parent)
    return DemoDrift(output, result.returncode)


@pytest.fixture(scope="session")
def screenshots() -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    return SCREENSHOTS
