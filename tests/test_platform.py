"""The local platform for real: `mlops-platform up/status/down` with Redis, MLflow, Airflow."""

from __future__ import annotations

import os
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import redis
from mlops_common.settings import project_root
from mlops_platform.processes import wait_for
from mlops_testing import free_port

pytestmark = [pytest.mark.slow, pytest.mark.integration]

PLATFORM = project_root() / ".venv" / "bin" / "mlops-platform"


@pytest.fixture(scope="module")
def platform_env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    state = tmp_path_factory.mktemp("platform")
    env = {
        **os.environ,
        "MLOPS_STATE_DIR": str(state),
        "REDIS_PORT": str(free_port()),
        "MLFLOW_PORT": str(free_port()),
        "AIRFLOW_PORT": str(free_port()),
        "PROMETHEUS_PORT": str(free_port()),
        "PROMETHEUS_PUSHGATEWAY_PORT": str(free_port()),
        "PROMETHEUS_SCRAPE_INTERVAL_SECONDS": "1",
        "SERVING_PORT": str(free_port()),
    }
    env.pop("MLFLOW_TRACKING_URI", None)
    yield env
    subprocess.run([str(PLATFORM), "down"], env=env, check=False, timeout=120)


def run(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(PLATFORM), *args], env=env, capture_output=True, text=True, timeout=600, check=False
    )


def test_down_when_nothing_runs_says_so(platform_env: dict[str, str]) -> None:
    result = run(platform_env, "down")
    assert result.returncode == 0
    assert "not running" in result.stdout


def test_up_status_up_again_down(platform_env: dict[str, str]) -> None:
    result = run(platform_env, "up")
    assert result.returncode == 0, result.stdout + result.stderr

    # Every service answers for real.
    assert redis.Redis(port=int(platform_env["REDIS_PORT"])).ping()
    mlflow = httpx.get(f"http://127.0.0.1:{platform_env['MLFLOW_PORT']}/health", timeout=5)
    assert mlflow.status_code == 200
    health = httpx.get(
        f"http://127.0.0.1:{platform_env['AIRFLOW_PORT']}/api/v2/monitor/health", timeout=5
    ).json()
    assert health["metadatabase"]["status"] == "healthy"
    assert health["scheduler"]["status"] == "healthy"

    # Prometheus scrapes the pushgateway and itself, and has the online service as a target
    # (down until `make serve` starts it).
    targets = wait_for(
        lambda: _scraped_targets(platform_env),
        timeout=60,
        interval=1,
        timeout_error=lambda: AssertionError("Prometheus never scraped its targets"),
    )
    assert targets["pushgateway"] == "up"
    assert targets["prometheus"] == "up"
    assert targets["online-service"] == "down"
    rules = httpx.get(f"{_prometheus(platform_env)}/api/v1/rules", timeout=5).json()
    assert {g["name"] for g in rules["data"]["groups"]} == {"online-service", "model-monitoring"}

    status = run(platform_env, "status")
    assert status.returncode == 0, status.stdout
    assert status.stdout.count("healthy") >= 7
    assert "prometheus" in status.stdout
    assert "pushgateway" in status.stdout
    assert "UNHEALTHY" not in status.stdout
    assert "password:" in status.stdout

    pids_before = _service_pids(platform_env)
    again = run(platform_env, "up")
    assert again.returncode == 0
    assert "already running" in again.stdout
    assert _service_pids(platform_env) == pids_before, "a second `up` started duplicates"

    down = run(platform_env, "down")
    assert down.returncode == 0
    for pid in pids_before:
        assert not Path(f"/proc/{pid}").exists() or _is_zombie(pid), f"pid {pid} still runs"
    assert (Path(platform_env["MLOPS_STATE_DIR"]) / "mlflow" / "mlflow.db").exists()
    assert run(platform_env, "status").returncode == 3


def test_port_in_use_is_named_with_the_setting_to_change(platform_env: dict[str, str]) -> None:
    with socket.socket() as blocker:
        blocker.bind(("127.0.0.1", int(platform_env["REDIS_PORT"])))
        blocker.listen()
        result = run(platform_env, "up")
    assert result.returncode == 2
    message = result.stderr + result.stdout
    assert f"port {platform_env['REDIS_PORT']} for redis is in use; set REDIS_PORT" in message
    assert "Traceback" not in message


def _prometheus(env: dict[str, str]) -> str:
    return f"http://127.0.0.1:{env['PROMETHEUS_PORT']}"


def _scraped_targets(env: dict[str, str]) -> dict[str, str] | None:
    """Health per scrape job once every target was scraped at least once."""
    active = httpx.get(f"{_prometheus(env)}/api/v1/targets", timeout=5).json()["data"]
    health = {t["labels"]["job"]: t["health"] for t in active["activeTargets"]}
    return None if not health or "unknown" in health.values() else health


def _service_pids(env: dict[str, str]) -> set[int]:
    state = Path(env["MLOPS_STATE_DIR"])
    out = subprocess.run(
        [
            str(project_root() / ".venv" / "bin" / "supervisorctl"),
            "-c",
            str(state / "supervisord.conf"),
            "pid",
            "all",
        ],
        capture_output=True,
        text=True,
        check=False,
    ).stdout
    return {int(line) for line in out.split() if line.isdigit()}


def _is_zombie(pid: int) -> bool:
    stat = Path(f"/proc/{pid}/stat").read_text()
    return stat.split(")")[-1].split()[0] == "Z"
