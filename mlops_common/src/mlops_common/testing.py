"""Pytest fixtures that start real services (Redis, an MLflow tracking server) on free ports.

Registered for the whole repository by the root `conftest.py`. Each fixture owns its process
and data under pytest's temporary directory and stops it at the end of the session.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import redis

from mlops_common.settings import reset_settings_cache


def prefer_installed_package(name: str) -> None:
    """Undo a side effect of pytest's importlib mode for a pipeline's own tests.

    Importing `<pipeline>/tests/conftest.py`, pytest registers the folder `<pipeline>/` as a
    namespace package of the same name as the installed package (`<pipeline>/src/<pipeline>`),
    which then hides it. Call this at the top of the pipeline's conftest: it puts the installed
    package back in `sys.modules`.
    """
    import importlib

    module = sys.modules.get(name)
    if module is not None and getattr(module, "__file__", None) is None:
        del sys.modules[name]
    importlib.import_module(name)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait(check: object, what: str, log: Path, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if check():  # type: ignore[operator]
                return
        except Exception:
            pass
        time.sleep(0.2)
    tail = log.read_text()[-2000:] if log.exists() else "(no log)"
    raise RuntimeError(f"{what} did not become ready in {timeout:.0f} s; log {log}:\n{tail}")


@dataclass
class RedisServer:
    host: str
    port: int
    process: subprocess.Popen[bytes]
    workdir: Path

    def client(self) -> redis.Redis:
        return redis.Redis(host=self.host, port=self.port)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=10)

    def start(self) -> None:
        """(Re)start the server on the same port (fault tests stop and restart it)."""
        log = self.workdir / "redis.log"
        self.process = subprocess.Popen(
            [
                _redis_binary(),
                "--port",
                str(self.port),
                "--bind",
                self.host,
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(self.workdir),
                "--logfile",
                str(log),
            ],
        )
        _wait(lambda: self.client().ping(), "redis-server", log, 15)


def _redis_binary() -> str:
    found = shutil.which("redis-server")
    if not found:
        pytest.fail("redis-server is not installed; run `make setup`")
    return found


@dataclass
class MlflowServer:
    uri: str
    process: subprocess.Popen[bytes]


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    """A real redis-server on a free loopback port."""
    workdir = tmp_path_factory.mktemp("redis")
    server = RedisServer("127.0.0.1", free_port(), None, workdir)  # type: ignore[arg-type]
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def mlflow_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MlflowServer]:
    """A real MLflow tracking server (SQLite backend, proxied artifacts) on a free port."""
    workdir = tmp_path_factory.mktemp("mlflow")
    port = free_port()
    log = workdir / "mlflow.log"
    env = {**os.environ, "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"}
    mlflow_bin = Path(sys.executable).parent / "mlflow"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [
                str(mlflow_bin),
                "server",
                "--backend-store-uri",
                f"sqlite:///{workdir / 'mlflow.db'}",
                "--artifacts-destination",
                str(workdir / "artifacts"),
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                "--workers",
                "1",
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
            start_new_session=True,
        )
    uri = f"http://127.0.0.1:{port}"
    try:  # 90 s was not enough on the shared 2-core machine under load; never leak the server
        _wait(
            lambda: httpx.get(f"{uri}/health", timeout=2).status_code == 200,
            "mlflow server",
            log,
            240,
        )
    except RuntimeError:
        os.killpg(process.pid, 15)
        process.wait(timeout=30)
        raise
    yield MlflowServer(uri, process)
    os.killpg(process.pid, 15)
    process.wait(timeout=30)


@pytest.fixture
def project_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """Point every path setting at a fresh temporary directory for one test."""
    monkeypatch.setenv("MLOPS_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.setenv("MLOPS_ARTIFACT_ROOT", str(tmp_path / "artifacts"))
    monkeypatch.setenv("MLOPS_DATA_DIR", str(tmp_path / "data"))
    reset_settings_cache()
    yield tmp_path
    reset_settings_cache()


@pytest.fixture
def redis_env(redis_server: RedisServer, monkeypatch: pytest.MonkeyPatch) -> RedisServer:
    """Settings pointed at the session's Redis, flushed for this test."""
    monkeypatch.setenv("REDIS_HOST", redis_server.host)
    monkeypatch.setenv("REDIS_PORT", str(redis_server.port))
    redis_server.client().flushall()
    reset_settings_cache()
    return redis_server


@pytest.fixture
def mlflow_env(mlflow_server: MlflowServer, monkeypatch: pytest.MonkeyPatch) -> MlflowServer:
    """Settings and the mlflow client pointed at the session's tracking server."""
    monkeypatch.setenv("MLFLOW_TRACKING_URI", mlflow_server.uri)
    reset_settings_cache()
    return mlflow_server


AIRFLOW_BIN = Path(".venv-airflow") / "bin" / "airflow"


@pytest.fixture(scope="session")
def airflow_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A migrated Airflow metadata database for `airflow dags test` runs in this session."""
    from mlops_common.airflow_env import airflow_environment
    from mlops_common.settings import project_root

    home = tmp_path_factory.mktemp("airflow")
    env = {**os.environ, **airflow_environment(home)}
    result = subprocess.run(
        [str(project_root() / AIRFLOW_BIN), "db", "migrate"],
        env=env,
        capture_output=True,
        text=True,
        check=False,
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
        import json

        from mlops_common.airflow_env import airflow_environment
        from mlops_common.settings import project_root

        env = {**os.environ, **airflow_environment(self.home)}
        command = [str(project_root() / AIRFLOW_BIN), "dags", "test", dag_id]
        if conf:
            command += ["--conf", json.dumps(conf)]
        return subprocess.run(
            command, env=env, capture_output=True, text=True, timeout=timeout, check=False
        )


@pytest.fixture
def airflow_dags_test(airflow_home: Path) -> DagsTest:
    """Call with a DAG id; assert on `.returncode` and the output (`.stdout`, `.stderr`)."""
    return DagsTest(airflow_home)


FEATURES = ("conv_rate", "acc_rate", "avg_daily_trips")


@dataclass
class ChampionModel:
    name: str
    version: str
    features: tuple[str, ...]
    model: object  # the fitted scikit-learn estimator


def register_tiny_champion(
    tracking_uri: str, name: str, *, alias: str = "champion", seed: int = 0
) -> ChampionModel:
    """Fit a small ElasticNet pipeline on synthetic feature rows, register it under NAME and
    point ALIAS at it: the same contract the training pipeline fulfils (scikit-learn flavor,
    float signature over the feature service's columns, prediction = completion score)."""
    import mlflow
    import numpy as np
    import pandas as pd
    from mlflow.models import infer_signature
    from sklearn.linear_model import ElasticNet
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(
        {
            "conv_rate": rng.uniform(0, 1, 500),
            "acc_rate": rng.uniform(0, 1, 500),
            "avg_daily_trips": rng.integers(0, 40, 500).astype("float64"),
        }
    )
    label = (
        0.5 * frame.conv_rate
        + 0.4 * frame.acc_rate
        + 0.005 * frame.avg_daily_trips
        + rng.normal(0, 0.05, 500)
    )
    model = make_pipeline(StandardScaler(), ElasticNet(alpha=0.001, l1_ratio=0.5)).fit(frame, label)
    client = mlflow.MlflowClient(tracking_uri)
    mlflow.set_tracking_uri(tracking_uri)
    with mlflow.start_run():
        info = mlflow.sklearn.log_model(
            model,
            name="model",
            signature=infer_signature(frame, model.predict(frame)),
            registered_model_name=name,
        )
    version = str(info.registered_model_version)
    client.set_registered_model_alias(name, alias, version)
    return ChampionModel(name, version, FEATURES, model)
