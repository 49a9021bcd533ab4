"""Fixtures for `airflow dags test` runs: a migrated Airflow home and a runner."""

from __future__ import annotations

import json
import os
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest
from mlops_platform.airflow_env import airflow_bin, airflow_environment


@pytest.fixture(scope="session")
def airflow_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A migrated Airflow metadata database for `airflow dags test` runs in this session."""
    home = tmp_path_factory.mktemp("airflow")
    env = {**os.environ, **airflow_environment(home)}
    result = subprocess.run(
        [airflow_bin(), "db", "migrate"], env=env, capture_output=True, text=True, check=False
    )
    if result.returncode != 0:
        pytest.fail(f"airflow db migrate failed:\n{result.stderr[-3000:]}")
    return home


@dataclass
class DagsTest:
    """Runs `airflow dags test DAG_ID` with the test's current environment (ports, paths)."""

    home: Path

    def __call__(
        self, dag_id: str, *, conf: dict[str, object] | None = None, timeout: float = 900
    ) -> subprocess.CompletedProcess[str]:
        env = {**os.environ, **airflow_environment(self.home)}
        command = [airflow_bin(), "dags", "test", dag_id]
        if conf:
            command += ["--conf", json.dumps(conf)]
        return subprocess.run(
            command, env=env, capture_output=True, text=True, timeout=timeout, check=False
        )


@pytest.fixture
def airflow_dags_test(airflow_home: Path) -> DagsTest:
    """Call with a DAG id; assert on `.returncode` and the output (`.stdout`, `.stderr`)."""
    return DagsTest(airflow_home)
