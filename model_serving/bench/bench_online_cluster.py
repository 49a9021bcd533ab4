"""Benchmark: the online service on a standalone Redis and on a 3-master Redis Cluster, side by
side, then a master killed while requests flow.

Starts a redis-server, three cluster-enabled redis-servers joined into a cluster, an MLflow
server with a tiny champion, materializes N drivers (fast path) into both stores and serves
each with `bentoml serve`. Prints wrk req/s and latency at each connection count per backend.
Then, on the cluster, sends single-driver requests in a loop while one master is killed
(SIGKILL) and restarted: counts the answers by status and by whether the driver's key lives on
the killed master, and says whether every 503 was for that master's slots and no 500 came.

Reuses the request mix and wrk parsing of `bench_online.py` (same folder).

    .venv/bin/python model_serving/bench/bench_online_cluster.py [--drivers 10000]
        [--duration 10] [--connections 1,16] [--fault-requests 600]
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import subprocess
import sys
import tempfile
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import redis
from mlops_platform import processes as proc

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))  # the sibling benchmark script, not a package
import bench_online  # noqa: E402

BIN = Path(sys.executable).parent
SERVICE = "online_service.service:DriverRanking"
FIRST_ID = 1001


@contextlib.contextmanager
def serving(env: dict[str, str], log: Path) -> Iterator[str]:
    """`bentoml serve` of the service with ENV; yields its URL once /readyz answers 200."""
    port = proc.free_port()
    with log.open("wb") as out:
        process = subprocess.Popen(
            [str(BIN / "bentoml"), "serve", SERVICE, "--host", "127.0.0.1", "--port", str(port)],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        proc.wait_for(
            lambda: httpx.get(f"{url}/readyz", timeout=3).status_code == 200,
            timeout=240,
            interval=1,
            timeout_error=lambda: RuntimeError(f"the service did not become ready; see {log}"),
            ignore=(httpx.HTTPError,),
        )
        yield url
    finally:
        proc.stop_process_group(process)


def fill(env: dict[str, str], drivers: int) -> None:
    """Materialize DRIVERS drivers (fast path) into the store ENV points at."""
    from data_pipeline.materialize import materialize
    from data_pipeline.settings import get_data_settings
    from feature_store.apply import apply_repo
    from mlops_common.settings import reset_settings_cache

    os.environ.update(env)
    reset_settings_cache()
    bench_online.write_features(get_data_settings().driver_stats_path, drivers, FIRST_ID)
    apply_repo()
    materialize(datetime.now(UTC))


def refill_after_restart(cluster: list, nodes: list[tuple[str, int]]) -> None:
    """Wait until the cluster reports ok again, then write the latest rows once more (the
    restarted master came back empty: nothing is persisted)."""
    from data_pipeline.materialize import latest_rows, write_online
    from feature_store.store import get_store
    from mlops_platform.processes import cluster_state

    proc.wait_for(
        lambda: all(cluster_state(h, p) == "ok" for h, p in nodes),
        timeout=60,
        interval=0.2,
        timeout_error=lambda: RuntimeError("the cluster did not report ok again"),
    )
    store = get_store()
    view = store.get_feature_view("driver_stats")
    now = datetime.now(UTC)
    assert view.ttl is not None
    write_online(store, view, latest_rows(store, view, now - view.ttl, now))


def fault_run(url: str, cluster: list, nodes: list[tuple[str, int]], total: int) -> None:
    """Single-driver requests before, while and after one master is down; tally the answers
    by where the driver's key lives."""
    from feature_store import feast_internals

    victim = cluster[0]
    client = redis.RedisCluster(startup_nodes=[redis.cluster.ClusterNode(h, p) for h, p in nodes])
    key = feast_internals.int64_key_builder("driver_ranking", "driver_id", 3)
    owner = {d: client.get_node_from_key(key(d)).port for d in range(FIRST_ID, FIRST_ID + 200)}
    client.close()
    tally: Counter[tuple[str, str, int]] = Counter()
    with httpx.Client(base_url=url, timeout=10) as http:
        for phase in ("before", "master down", "after"):
            if phase == "master down":
                victim.process.kill()
                victim.process.wait(timeout=10)
            if phase == "after":
                victim.start()
                refill_after_restart(cluster, nodes)
            for index in range(total // 3):
                driver = FIRST_ID + index % 200
                body = {"request_id": f"{phase}-{index}", "driver_ids": [driver]}
                status = http.post("/inference", json=body).status_code
                where = "killed master" if owner[driver] == victim.port else "other masters"
                tally[(phase, where, status)] += 1
    print(f"fault run: master :{victim.port} killed (SIGKILL), restarted, refilled")
    for (phase, where, status), count in sorted(tally.items()):
        print(f"  {phase:12s} {where:14s} HTTP {status}: {count}")
    stray_503 = sum(c for (ph, w, s), c in tally.items() if s == 503 and w != "killed master")
    errors_500 = sum(c for (_, _, s), c in tally.items() if s >= 500 and s != 503)
    after_ok = all(s == 200 for (ph, _, s) in tally if ph != "master down")
    print(
        f"503s outside the killed master's slots: {stray_503}; 5xx other than 503: "
        f"{errors_500}; every answer 200 before and after: {after_ok}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    bench_online.load_arguments(parser)
    parser.add_argument("--fault-requests", type=int, default=600)
    args = parser.parse_args()
    if not shutil.which("wrk"):
        raise SystemExit("wrk is not installed: run `make setup_dev`")
    tmp = Path(tempfile.mkdtemp(prefix="bench-online-cluster-"))
    mlflow_port = proc.free_port()
    base_env = {
        **os.environ,
        "MLOPS_DATA_DIR": str(tmp / "data"),
        "MLOPS_STATE_DIR": str(tmp / "state"),
        "MLOPS_ARTIFACT_ROOT": str(tmp / "artifacts"),
        "MLFLOW_TRACKING_URI": f"http://127.0.0.1:{mlflow_port}",
        "MLFLOW_MODEL_NAME": "driver_ranking_bench",
        "SERVING_ACCESS_LOG": "false",
        "BENTOML_HOME": str(tmp / "bentoml"),
    }
    from mlops_testing.services import RedisServer

    standalone_port = proc.free_port()
    (tmp / "standalone").mkdir()
    cluster = [
        RedisServer("127.0.0.1", proc.free_cluster_port(), tmp / f"node{i}", cluster=True)
        for i in range(3)
    ]
    processes = []
    results: dict[tuple[str, int], bench_online.WrkResult] = {}
    mlflow = None
    try:
        processes.append(proc.start_redis_server(tmp / "standalone", standalone_port))
        for server in cluster:
            server.workdir.mkdir()
            server.start()
        nodes = [(s.host, s.port) for s in cluster]
        proc.create_redis_cluster(nodes)
        (tmp / "mlflow").mkdir()
        mlflow = proc.start_mlflow_server(tmp / "mlflow", mlflow_port, base_env, timeout=300)
        from mlops_testing import register_tiny_champion

        register_tiny_champion(base_env["MLFLOW_TRACKING_URI"], base_env["MLFLOW_MODEL_NAME"])
        envs = {
            # Each backend its own data dir: one registry would record the first backend's
            # materialization and the second would have nothing to write.
            "standalone": {
                **base_env,
                "MLOPS_DATA_DIR": str(tmp / "standalone-data"),
                "REDIS_TYPE": "standalone",
                "REDIS_HOST": "127.0.0.1",
                "REDIS_PORT": str(standalone_port),
            },
            "cluster": {
                **base_env,
                "MLOPS_DATA_DIR": str(tmp / "cluster-data"),
                "REDIS_TYPE": "cluster",
                "REDIS_CLUSTER_NODES": ",".join(f"{h}:{p}" for h, p in nodes),
            },
        }
        script = tmp / "bench.lua"
        script.write_text(
            bench_online.WRK_SCRIPT
            % {"seed": 42, "n": args.drivers, "k": args.ids_per_request, "first": FIRST_ID}
        )
        for name, env in envs.items():
            fill(env, args.drivers)
            print(f"materialized {args.drivers} drivers into the {name} store", flush=True)
            with serving(env, tmp / f"serve-{name}.log") as url:
                bench_online.run_wrk(url, script, 4, 3)  # warm-up
                for connections in (int(c) for c in args.connections.split(",")):
                    result = bench_online.run_wrk(url, script, connections, args.duration)
                    results[(name, connections)] = result
                    print(
                        f"{name:10s} c={connections:<3d} {result.rps:8.0f} req/s  "
                        f"p50 {result.p50_ms:7.2f} ms  p99 {result.p99_ms:7.2f} ms  "
                        f"non-2xx {result.non_2xx}",
                        flush=True,
                    )
                if name == "cluster":
                    fault_run(url, cluster, nodes, args.fault_requests)
        print("\nbackend    conns    req/s   p50 ms   p99 ms")
        for (name, connections), r in results.items():
            print(f"{name:10s} {connections:5d} {r.rps:8.0f} {r.p50_ms:8.2f} {r.p99_ms:8.2f}")
    finally:
        for server in cluster:
            server.stop()
        for process in processes:
            proc.stop_process(process)
        if mlflow is not None:
            proc.stop_process_group(mlflow)
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
