"""Benchmark: Feast's materialize against the fast path, side by side, on a real Redis and a
real 3-master Redis Cluster.

Generates N drivers (default 10,000) over a short window, then for each backend (a
redis-server on a free port; three cluster-enabled redis-servers joined by `redis-cli
--cluster create`) materializes the same interval with each engine on an empty store and a
fresh registry, REPEAT times each. Prints rows/s per backend and engine (median of the repeats;
wall time as the engine reports it, and per CPU second of this process, which other load barely
moves), the ratios, the load average, and whether both engines left identical Redis contents.

    .venv/bin/python data_pipeline/bench/bench_materialize.py [--drivers 10000] [--repeat 3]
        [--backends standalone,cluster]
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import statistics
import subprocess
import tempfile
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import redis
from mlops_platform.processes import (
    create_redis_cluster,
    free_cluster_port,
    free_port,
    start_redis_server,
    stop_process,
)

END = datetime(2026, 11, 20, 12, tzinfo=UTC)


def run_once(
    engine: str, clients: list[redis.Redis]
) -> tuple[float, float, int, dict[bytes, dict]]:
    """One materialization on an empty store and registry: wall rows/s (as the engine reports
    it), rows per CPU second of this process (insensitive to other load; excludes Redis's own
    CPU), rows, and what Redis holds afterwards (every server's or master's keys)."""
    from data_pipeline.materialize import materialize
    from feature_store.apply import apply_repo
    from mlops_common.settings import get_feast_settings

    for client in clients:
        client.flushall()
    registry = get_feast_settings().registry_path
    assert registry is not None
    registry.unlink(missing_ok=True)
    apply_repo()
    cpu = time.process_time()
    [result] = materialize(END, engine=engine)
    cpu = time.process_time() - cpu
    contents: dict[bytes, dict[bytes, bytes]] = {}
    for client in clients:
        for key in client.scan_iter(count=5000):
            contents[key] = client.hgetall(key)  # type: ignore[assignment]
    return result.rows_per_second, result.rows / cpu, result.rows, contents


@contextlib.contextmanager
def backend(name: str, workdir: Path) -> Iterator[tuple[dict[str, str], list[redis.Redis]]]:
    """Start backend NAME; yield its settings (environment) and a client per server."""
    processes: list[subprocess.Popen[bytes]] = []
    try:
        if name == "standalone":
            port = free_port()
            processes.append(start_redis_server(workdir, port))
            env = {"REDIS_TYPE": "standalone", "REDIS_HOST": "127.0.0.1", "REDIS_PORT": str(port)}
            ports = [port]
        else:
            ports = [free_cluster_port() for _ in range(3)]
            for index, port in enumerate(ports):
                node_dir = workdir / f"node{index}"
                node_dir.mkdir()
                processes.append(start_redis_server(node_dir, port, cluster=True))
            create_redis_cluster([("127.0.0.1", port) for port in ports])
            nodes = ",".join(f"127.0.0.1:{port}" for port in ports)
            env = {"REDIS_TYPE": "cluster", "REDIS_CLUSTER_NODES": nodes}
        yield env, [redis.Redis(port=port) for port in ports]
    finally:
        for process in processes:
            stop_process(process)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--drivers", type=int, default=10_000)
    parser.add_argument("--days", type=int, default=1, help="Window of the generated stats.")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--backends", default="standalone,cluster")
    args = parser.parse_args()
    backends = [name.strip() for name in args.backends.split(",") if name.strip()]
    unknown = set(backends) - {"standalone", "cluster"}
    if unknown:
        parser.error(f"unknown backends {sorted(unknown)}: choose standalone and/or cluster")

    workdir = Path(tempfile.mkdtemp(prefix="bench_materialize_"))
    try:
        os.environ.update(
            MLOPS_DATA_DIR=str(workdir / "data"),
            MLOPS_ARTIFACT_ROOT=str(workdir / "artifacts"),
            MLOPS_STATE_DIR=str(workdir / "state"),
        )
        from data_pipeline.generate import generate
        from mlops_common.settings import reset_settings_cache

        reset_settings_cache()
        generate(
            n_drivers=args.drivers, days=args.days, end_time=END, n_orders=100, n_batch_requests=10
        )
        load_before = os.getloadavg()[0]
        wall_runs: dict[tuple[str, str], list[float]] = {}
        cpu_runs: dict[tuple[str, str], list[float]] = {}
        identical: dict[str, bool] = {}
        rows = 0
        for name in backends:
            backend_dir = workdir / name
            backend_dir.mkdir()
            with backend(name, backend_dir) as (env, clients):
                os.environ.update(env)
                reset_settings_cache()
                contents: dict[str, dict] = {}
                for _ in range(args.repeat):
                    for engine in ("feast", "fast"):
                        rate, cpu_rate, rows, contents[engine] = run_once(engine, clients)
                        wall_runs.setdefault((name, engine), []).append(rate)
                        cpu_runs.setdefault((name, engine), []).append(cpu_rate)
                identical[name] = contents["fast"] == contents["feast"]
        wall = {key: statistics.median(values) for key, values in wall_runs.items()}
        cpu = {key: statistics.median(values) for key, values in cpu_runs.items()}
        print(
            f"drivers={args.drivers} days={args.days} rows written={rows} "
            f"repeats={args.repeat}; 1-min load average {load_before:.1f} -> "
            f"{os.getloadavg()[0]:.1f} on {os.cpu_count()} cores"
        )
        print(f"{'backend':>10} {'engine':>6} {'rows/s wall':>12} {'rows/CPU s':>11}  runs")
        for name in backends:
            for engine in ("feast", "fast"):
                key = (name, engine)
                listed = ", ".join(f"{r:,.0f}" for r in wall_runs[key])
                print(f"{name:>10} {engine:>6} {wall[key]:>12,.0f} {cpu[key]:>11,.0f}  {listed}")
        for name in backends:
            print(
                f"{name}: fast/feast {wall[(name, 'fast')] / wall[(name, 'feast')]:.1f}x wall, "
                f"{cpu[(name, 'fast')] / cpu[(name, 'feast')]:.1f}x CPU; "
                f"identical Redis contents: {identical[name]}"
            )
        if set(backends) == {"standalone", "cluster"}:
            for engine in ("feast", "fast"):
                ratio = wall[("cluster", engine)] / wall[("standalone", engine)]
                print(f"{engine}: cluster/standalone {ratio:.2f}x wall")
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
