"""Fixtures that start real services (Redis, an MLflow tracking server) on free ports.

Each fixture owns its process and data under pytest's temporary directory and stops it at the
end of the session; the command lines and waits are the platform's (`mlops_platform.processes`).
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import redis
from mlops_common.settings import reset_settings_cache
from mlops_platform.processes import (
    create_redis_cluster,
    free_cluster_port,
    free_port,
    http_ok,
    pushgateway_command,
    start_mlflow_server,
    start_redis_server,
    stop_process,
    stop_process_group,
    wait_started,
)


def start_pushgateway(
    workdir: Path, port: int, *, host: str = "127.0.0.1", timeout: float = 15
) -> subprocess.Popen[bytes]:
    """A throw-away pushgateway (nothing persisted, log WORKDIR/pushgateway.log), once ready."""
    log = workdir / "pushgateway.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            pushgateway_command(None, host=host, port=port, admin_api=True),
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    wait_started(
        process,
        lambda: http_ok(f"http://{host}:{port}/-/ready"),
        timeout,
        f"pushgateway on {host}:{port}",
        log,
        stop=lambda: stop_process(process),
    )
    return process


@dataclass
class RedisServer:
    host: str
    port: int
    workdir: Path
    cluster: bool = False
    process: subprocess.Popen[bytes] | None = None

    def client(self) -> redis.Redis:
        return redis.Redis(host=self.host, port=self.port)

    def stop(self) -> None:
        if self.process is not None:
            stop_process(self.process)

    def start(self) -> None:
        """(Re)start the server on the same port (fault tests stop and restart it)."""
        self.process = start_redis_server(
            self.workdir, self.port, host=self.host, cluster=self.cluster
        )


@dataclass
class RedisCluster:
    """A real Redis Cluster of cluster-enabled redis-servers on loopback (masters only)."""

    servers: list[RedisServer]

    @property
    def nodes(self) -> list[tuple[str, int]]:
        return [(server.host, server.port) for server in self.servers]

    @property
    def connection(self) -> str:
        """The startup nodes as REDIS_CLUSTER_NODES takes them."""
        return ",".join(f"{host}:{port}" for host, port in self.nodes)

    def client(self) -> redis.RedisCluster:
        return redis.RedisCluster(
            startup_nodes=[redis.cluster.ClusterNode(h, p) for h, p in self.nodes]
        )

    def flush(self) -> None:
        """Empty every master (FLUSHALL on each node; the slot map stays)."""
        for server in self.servers:
            client = server.client()
            try:
                client.flushall()
            finally:
                client.close()

    def server_of(self, key: bytes) -> RedisServer:
        """The master serving KEY's slot."""
        client = self.servers[0].client()
        try:
            slot = int(client.execute_command("CLUSTER KEYSLOT", key))
            for low, high, master, *_ in client.execute_command("CLUSTER SLOTS"):
                if low <= slot <= high:
                    port = int(master[1])
                    return next(s for s in self.servers if s.port == port)
        finally:
            client.close()
        raise LookupError(f"no master serves slot {slot}")

    def stop(self) -> None:
        for server in self.servers:
            server.stop()


@dataclass
class MlflowServer:
    uri: str
    process: subprocess.Popen[bytes]


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    """A real redis-server on a free loopback port."""
    server = RedisServer("127.0.0.1", free_port(), tmp_path_factory.mktemp("redis"))
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def redis_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisCluster]:
    """A real 3-master Redis Cluster on free loopback ports (no replicas)."""
    root = tmp_path_factory.mktemp("redis-cluster")
    servers = []
    for index in range(3):
        workdir = root / f"node{index}"
        workdir.mkdir()
        servers.append(RedisServer("127.0.0.1", free_cluster_port(), workdir, cluster=True))
    cluster = RedisCluster(servers)
    try:
        for server in servers:
            server.start()
        create_redis_cluster(cluster.nodes)
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture
def redis_cluster_env(redis_cluster: RedisCluster, monkeypatch: pytest.MonkeyPatch) -> RedisCluster:
    """Settings pointed at the session's Redis Cluster (REDIS_TYPE=cluster), flushed."""
    monkeypatch.setenv("REDIS_TYPE", "cluster")
    monkeypatch.setenv("REDIS_CLUSTER_NODES", redis_cluster.connection)
    redis_cluster.flush()
    reset_settings_cache()
    return redis_cluster


@pytest.fixture(scope="session")
def mlflow_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MlflowServer]:
    """A real MLflow tracking server (SQLite backend, proxied artifacts) on a free port."""
    port = free_port()
    # 90 s was not enough on the shared 2-core machine under load.
    process = start_mlflow_server(
        tmp_path_factory.mktemp("mlflow"), port, dict(os.environ), timeout=240
    )
    yield MlflowServer(f"http://127.0.0.1:{port}", process)
    stop_process_group(process)


@dataclass
class Pushgateway:
    url: str
    process: subprocess.Popen[bytes]

    def metrics(self) -> str:
        """The gateway's /metrics text (what Prometheus would scrape)."""
        import httpx

        return httpx.get(f"{self.url}/metrics", timeout=5).text


@pytest.fixture(scope="session")
def pushgateway_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pushgateway]:
    """A real prometheus-pushgateway on a free loopback port."""
    port = free_port()
    process = start_pushgateway(tmp_path_factory.mktemp("pushgateway"), port)
    yield Pushgateway(f"http://127.0.0.1:{port}", process)
    stop_process(process)


@pytest.fixture
def pushgateway_env(
    pushgateway_server: Pushgateway, monkeypatch: pytest.MonkeyPatch
) -> Pushgateway:
    """Pushing enabled, to the session's pushgateway, emptied for this test."""
    import httpx

    httpx.put(f"{pushgateway_server.url}/api/v1/admin/wipe", timeout=5).raise_for_status()
    monkeypatch.setenv("PROMETHEUS_PUSH_ENABLED", "true")
    monkeypatch.setenv("PROMETHEUS_PUSHGATEWAY_URL", pushgateway_server.url)
    reset_settings_cache()
    return pushgateway_server


@pytest.fixture
def project_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """Point every path setting at a fresh temporary directory for one test."""
    monkeypatch.setenv("MLOPS_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.setenv("MLOPS_ARTIFACT_ROOT", str(tmp_path / "artifacts"))
    monkeypatch.setenv("MLOPS_DATA_DIR", str(tmp_path / "data"))
    # Never push a test's figures into a running platform's pushgateway (`pushgateway_env`
    # turns pushing on, to a gateway of the test session's own).
    monkeypatch.setenv("PROMETHEUS_PUSH_ENABLED", "false")
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
