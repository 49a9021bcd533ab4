"""The one process and wait toolkit: server command lines, free ports, waiting until ready.

The local platform, the test fixtures and the benchmarks start redis-server and the MLflow
tracking server with the command lines built here (same flags everywhere), and every wait for
something to come up or go away is `wait_for` (tenacity's retry loop), not a hand-written poll.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import httpx
import redis
from mlops_common.errors import UserError
from tenacity import (
    RetryError,
    Retrying,
    retry_if_exception_type,
    retry_if_result,
    stop_after_delay,
    wait_fixed,
)

T = TypeVar("T")

# MLflow 3.17's server starts job workers by default: 15 s and 2.4 GiB instead of 7 s, 0.5 GiB.
MLFLOW_SERVER_ENV = {"MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"}


def wait_for(
    probe: Callable[[], T | None],
    *,
    timeout: float,
    interval: float,
    timeout_error: Callable[[], Exception],
    ignore: tuple[type[BaseException], ...] = (),
) -> T:
    """Call PROBE every INTERVAL seconds until it returns a value other than None or False;
    return that value. An exception of a type in IGNORE counts as "not yet", any other one
    ends the wait at once. After TIMEOUT seconds, raise what TIMEOUT_ERROR builds."""
    retrying = Retrying(
        stop=stop_after_delay(timeout),
        wait=wait_fixed(interval),
        retry=retry_if_result(lambda value: value is None or value is False)
        | retry_if_exception_type(ignore),
    )
    try:
        return retrying(probe)  # type: ignore[return-value]
    except RetryError:
        raise timeout_error() from None


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port nothing listens on at HOST right now (the OS picks it)."""
    with socket.socket() as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def free_cluster_port(host: str = "127.0.0.1", attempts: int = 50) -> int:
    """A free port for a Redis Cluster node: its cluster bus listens on port + 10000, which
    must be free and below 65536 too."""
    for _ in range(attempts):
        port = free_port(host)
        if port + 10000 <= 65535 and port_free(host, port + 10000):
            return port
    raise RuntimeError(f"no free port pair (P, P+10000) at {host} in {attempts} attempts")


def port_free(host: str, port: int) -> bool:
    """Whether a server could bind PORT at HOST now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def _redis_binary(name: str) -> str:
    found = shutil.which(name)
    if found is None:
        raise UserError(f"{name} is not installed; run `make setup` (or install Redis 7).")
    return found


def redis_server_binary() -> str:
    return _redis_binary("redis-server")


def redis_server_command(
    port: int,
    directory: Path,
    *,
    host: str = "127.0.0.1",
    persist: bool = False,
    password: str | None = None,
    logfile: Path | None = None,
    cluster: bool = False,
) -> list[str]:
    """redis-server on HOST:PORT with its data in DIRECTORY. PERSIST snapshots on shutdown and
    every 5 minutes when something changed (the platform's `down` keeps the data); without it
    nothing is written (tests, benchmarks). No LOGFILE: the log goes to stdout.

    CLUSTER makes it a Redis Cluster node (its node id and slots in DIRECTORY/nodes.conf, so a
    restarted node rejoins with its slots). A node that is down fails only the requests for its
    own slots: full coverage is not required, and its peers flag it after 2 s, not 15 s."""
    command = [
        redis_server_binary(),
        "--port",
        str(port),
        "--bind",
        host,
        "--dir",
        str(directory),
        "--save",
        "300 1" if persist else "",
        "--appendonly",
        "no",
    ]
    if password is not None:
        command += ["--requirepass", password]
    if logfile is not None:
        command += ["--logfile", str(logfile)]
    if cluster:
        command += [
            "--cluster-enabled",
            "yes",
            "--cluster-config-file",
            str(directory / "nodes.conf"),
            "--cluster-node-timeout",
            "2000",
            "--cluster-require-full-coverage",
            "no",
        ]
        if password is not None:
            command += ["--masterauth", password]
    return command


def redis_cli_binary() -> str:
    return _redis_binary("redis-cli")


def create_redis_cluster(
    nodes: list[tuple[str, int]], *, replicas: int = 0, password: str | None = None
) -> None:
    """Join the empty cluster-enabled servers at NODES into one cluster (`redis-cli --cluster
    create`: the 16,384 slots split evenly over the masters, REPLICAS replicas per master) and
    wait until every node reports the cluster ok."""
    command = [
        redis_cli_binary(),
        "--cluster",
        "create",
        *(f"{host}:{port}" for host, port in nodes),
        "--cluster-replicas",
        str(replicas),
        "--cluster-yes",
    ]
    if password is not None:
        command += ["-a", password, "--no-auth-warning"]
    done = subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"redis-cli --cluster create failed: {done.stdout}{done.stderr}")

    def all_ok() -> bool:
        return all(cluster_state(host, port, password) == "ok" for host, port in nodes)

    def timed_out() -> Exception:
        return RuntimeError(f"the Redis cluster {nodes} did not report cluster_state:ok")

    wait_for(all_ok, timeout=30, interval=0.2, timeout_error=timed_out)


def cluster_state(host: str, port: int, password: str | None = None) -> str | None:
    """`cluster_state` (ok / fail) of the cluster node at HOST:PORT; None when it does not
    answer."""
    client = redis.Redis(host=host, port=port, password=password, socket_timeout=2)
    try:
        info: dict[str, str] = client.cluster("info")  # type: ignore[assignment]
        return str(info.get("cluster_state"))
    except redis.RedisError:
        return None
    finally:
        client.close()


def mlflow_server_command(directory: Path, *, host: str, port: int) -> list[str]:
    """An MLflow tracking server on HOST:PORT: SQLite backend and proxied artifacts in
    DIRECTORY, one worker (run it with `MLFLOW_SERVER_ENV`)."""
    return [
        str(Path(sys.executable).parent / "mlflow"),
        "server",
        "--backend-store-uri",
        f"sqlite:///{directory / 'mlflow.db'}",
        "--artifacts-destination",
        str(directory / "artifacts"),
        "--host",
        host,
        "--port",
        str(port),
        "--workers",
        "1",
    ]


def prometheus_binary(name: str) -> str:
    """Debian's `prometheus`, `promtool` or `prometheus-pushgateway` (installed by setup)."""
    found = shutil.which(name)
    if found is None:
        raise UserError(f"{name} is not installed; run `make setup` (Debian package prometheus).")
    return found


def prometheus_command(
    config: Path, directory: Path, *, host: str, port: int, retention: str
) -> list[str]:
    """Prometheus on HOST:PORT with CONFIG, its samples in DIRECTORY; `/-/reload` enabled so
    a rewritten configuration is picked up without a restart."""
    return [
        prometheus_binary("prometheus"),
        f"--config.file={config}",
        f"--storage.tsdb.path={directory}",
        f"--storage.tsdb.retention.time={retention}",
        f"--web.listen-address={host}:{port}",
        "--web.enable-lifecycle",
    ]


def pushgateway_command(
    persistence_file: Path | None, *, host: str, port: int, admin_api: bool = False
) -> list[str]:
    """The pushgateway on HOST:PORT; with PERSISTENCE_FILE pushed figures survive a restart.
    ADMIN_API enables `PUT /api/v1/admin/wipe` (test fixtures empty it between tests)."""
    command = [prometheus_binary("prometheus-pushgateway"), f"--web.listen-address={host}:{port}"]
    if admin_api:
        command.append("--web.enable-admin-api")
    if persistence_file is not None:
        command += [f"--persistence.file={persistence_file}", "--persistence.interval=30s"]
    return command


def redis_answers(host: str, port: int, password: str | None = None) -> bool:
    """Whether the Redis server at HOST:PORT answers PING."""
    client = redis.Redis(host=host, port=port, password=password, socket_timeout=2)
    try:
        return bool(client.ping())
    except redis.RedisError:
        return False
    finally:
        client.close()


def http_ok(url: str) -> bool:
    """Whether GET URL answers with a 2xx status."""
    try:
        return httpx.get(url, timeout=3).is_success
    except httpx.HTTPError:
        return False


def start_redis_server(
    workdir: Path,
    port: int,
    *,
    host: str = "127.0.0.1",
    timeout: float = 15,
    cluster: bool = False,
) -> subprocess.Popen[bytes]:
    """A throw-away redis-server (nothing persisted, log WORKDIR/redis.log), once it answers.
    CLUSTER: a cluster node (see `redis_server_command`; join nodes with
    `create_redis_cluster`)."""
    log = workdir / "redis.log"
    process = subprocess.Popen(
        redis_server_command(port, workdir, host=host, logfile=log, cluster=cluster)
    )
    wait_started(
        process,
        lambda: redis_answers(host, port),
        timeout,
        f"redis-server on {host}:{port}",
        log,
        stop=lambda: stop_process(process),
    )
    return process


def start_mlflow_server(
    workdir: Path, port: int, env: dict[str, str], *, host: str = "127.0.0.1", timeout: float
) -> subprocess.Popen[bytes]:
    """An MLflow server with its data and log (WORKDIR/mlflow.log) in WORKDIR, once healthy.
    It runs in its own process group: stop it with `stop_process_group`."""
    log = workdir / "mlflow.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            mlflow_server_command(workdir, host=host, port=port),
            stdout=out,
            stderr=subprocess.STDOUT,
            env={**env, **MLFLOW_SERVER_ENV},
            start_new_session=True,
        )
    wait_started(
        process,
        lambda: http_ok(f"http://{host}:{port}/health"),
        timeout,
        f"mlflow server on {host}:{port}",
        log,
        stop=lambda: stop_process_group(process),
    )
    return process


def stop_process(process: subprocess.Popen[bytes], timeout: float = 10) -> None:
    """Stop PROCESS (SIGTERM) and wait for it."""
    if process.poll() is None:
        process.terminate()
    process.wait(timeout=timeout)


def stop_process_group(process: subprocess.Popen[bytes], timeout: float = 30) -> None:
    """Stop PROCESS and its children (started with `start_new_session=True`)."""
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
    process.wait(timeout=timeout)


def wait_started(
    process: subprocess.Popen[bytes],
    ready: Callable[[], bool],
    timeout: float,
    what: str,
    log: Path,
    *,
    stop: Callable[[], None],
) -> None:
    """Wait until READY; give up early if PROCESS exits; never leak it (STOP) when not up."""

    def probe() -> bool:
        if process.poll() is not None:
            raise RuntimeError(f"{what} exited with code {process.returncode}; see {log}")
        return ready()

    def timed_out() -> Exception:
        return RuntimeError(f"{what} did not become ready within {timeout:.0f} s; see {log}")

    try:
        wait_for(probe, timeout=timeout, interval=0.2, timeout_error=timed_out)
    except BaseException:
        stop()
        raise
