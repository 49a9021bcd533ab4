"""Fixtures of the online-service tests: tiny driver features in a real Redis, a real champion."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import cache
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pandas as pd
import pytest
from mlops_common.settings import reset_settings_cache
from mlops_testing import (
    ChampionModel,
    MlflowServer,
    RedisServer,
    free_port,
    prefer_installed_package,
    register_tiny_champion,
)

prefer_installed_package("model_serving")

KNOWN_IDS = tuple(range(1001, 1021))  # 20 drivers with features; 9001+ never have any


def write_driver_stats(path: Path, driver_ids: Sequence[int], seed: int = 0) -> pd.DataFrame:
    """A small driver_stats parquet: three hourly rows per driver, the newest one hour ago."""
    rng = np.random.default_rng(seed)
    now = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    rows = []
    for hours_ago in (3, 2, 1):
        ts = now - timedelta(hours=hours_ago)
        for driver_id in driver_ids:
            rows.append(
                {
                    "driver_id": driver_id,
                    "event_timestamp": ts,
                    "created": ts,
                    "conv_rate": rng.uniform(0, 1),
                    "acc_rate": rng.uniform(0, 1),
                    "avg_daily_trips": int(rng.integers(0, 40)),
                }
            )
    frame = pd.DataFrame(rows).astype(
        {
            "driver_id": "int64",
            "conv_rate": "float32",
            "acc_rate": "float32",
            "avg_daily_trips": "int64",
        }
    )
    for column in ("event_timestamp", "created"):  # DuckDB reads microsecond timestamps
        frame[column] = frame[column].astype("datetime64[us, UTC]")
    path.parent.mkdir(parents=True, exist_ok=True)
    frame.to_parquet(path, index=False)
    return frame


def materialize_features(driver_ids: Sequence[int]) -> None:
    """Write the parquet for DRIVER_IDS, `feast apply` and materialize the last two days."""
    from data_pipeline.settings import get_data_settings
    from feature_store.apply import apply_repo
    from feature_store.store import get_store

    write_driver_stats(get_data_settings().driver_stats_path, driver_ids)
    apply_repo()
    now = datetime.now(UTC)
    get_store().materialize(start_date=now - timedelta(days=2), end_date=now)


def metric_value(text: str, name: str, **labels: str) -> float | None:
    """The value of sample NAME with exactly LABELS in Prometheus exposition TEXT."""
    from prometheus_client.parser import text_string_to_metric_families

    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name and sample.labels == labels:
                return float(sample.value)
    return None


class BlockingReader:
    """The service's async reader driven from a synchronous test, on an event loop of its own
    (the reader is built inside it, as the service builds it in its worker's loop)."""

    def __init__(self, build: Callable[[], Any]) -> None:
        self.loop = asyncio.new_event_loop()

        async def make() -> Any:
            return build()

        self.reader = self.loop.run_until_complete(make())
        self.feature_names = self.reader.feature_names

    def read(self, driver_ids):
        return self.loop.run_until_complete(self.reader.read(driver_ids))

    def ping(self) -> bool:
        return self.loop.run_until_complete(self.reader.ping())

    def close(self) -> None:
        self.loop.run_until_complete(self.reader.close())
        self.loop.close()


@cache
def service_app() -> Any:
    """The service's ASGI app, built once per process: BentoML registers its request metrics
    when an app first runs, and a second app in the same process would register them again.
    Each TestClient context still runs start-up, so every test gets a fresh service instance
    configured from its own environment."""
    from online_service.service import DriverRanking

    return DriverRanking.to_asgi()


@dataclass
class OnlineEnv:
    redis: RedisServer
    mlflow: MlflowServer
    champion: ChampionModel
    known_ids: tuple[int, ...]


@pytest.fixture
def online_env(
    project_env: Path,
    redis_env: RedisServer,
    mlflow_env: MlflowServer,
    monkeypatch: pytest.MonkeyPatch,
) -> OnlineEnv:
    """Features of KNOWN_IDS in Redis and a freshly registered champion (own model name)."""
    name = f"driver_ranking_{uuid.uuid4().hex[:8]}"
    monkeypatch.setenv("MLFLOW_MODEL_NAME", name)
    monkeypatch.setenv("SERVING_MODEL_REFRESH_SECONDS", "1")
    # On a loaded 2-core machine a read occasionally outlasted the default 0.5 s and a healthy
    # request became a 503; the fault tests read the setting, so they still hold for it.
    monkeypatch.setenv("REDIS_SOCKET_TIMEOUT", "1")  # below SERVING_REQUEST_TIMEOUT_SECONDS
    reset_settings_cache()
    materialize_features(KNOWN_IDS)
    champion = register_tiny_champion(mlflow_env.uri, name)
    return OnlineEnv(redis_env, mlflow_env, champion, KNOWN_IDS)


@contextmanager
def bentoml_serve(
    tmp_path: Path,
    stop_timeout: float = 30,
    *,
    target: str | None = None,
    ready_path: str = "/readyz",
    working_dir: Path | None = None,
) -> Iterator[tuple[str, Path]]:
    """`bentoml serve TARGET` (default: the service class the CLI serves; or a Bento's tag in
    the BENTOML_HOME tmp_path/bentoml) on a free port with the current settings; yields
    (URL, log file) once READY_PATH answers 200, then stops it gracefully (SIGTERM: the shutdown
    hooks run), killing it after STOP_TIMEOUT seconds."""
    from online_service.cli import SERVICE

    port = free_port()
    log = tmp_path / "serve.log"
    env = {**os.environ, "BENTOML_HOME": str(tmp_path / "bentoml")}
    bentoml = Path(sys.executable).parent / "bentoml"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [
                str(bentoml),
                "serve",
                target or SERVICE,
                *(["--working-dir", str(working_dir)] if working_dir else []),
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
            start_new_session=True,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline:
            if process.poll() is not None:
                pytest.fail(f"bentoml serve exited:\n{log.read_text()[-3000:]}")
            try:
                if httpx.get(f"{url}{ready_path}", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            time.sleep(0.5)
        else:
            pytest.fail(f"service not ready:\n{log.read_text()[-3000:]}")
        yield url, log
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=stop_timeout)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


@pytest.fixture
def served(online_env: OnlineEnv, tmp_path: Path) -> Iterator[str]:
    """The online service under `bentoml serve` on a free port; yields its URL."""
    with bentoml_serve(tmp_path) as (url, _):
        yield url
