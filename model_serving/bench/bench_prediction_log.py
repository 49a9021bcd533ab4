"""Prediction log bench: the online service with and without its prediction log, and the count.

Starts a redis-server and an MLflow server on free loopback ports under a temporary folder,
materializes N drivers' features, registers a tiny champion, then runs `bentoml serve` (one
worker) with `PREDICTION_LOG_ENABLED=false` and `=true` in turn (ROUNDS pairs in ABBA order,
so the machine's load drifts over both alike). Each run: a warm-up, `wrk` for DURATION seconds at
C connections (every request asks for K random distinct ids), then a graceful stop (SIGTERM).
Prints req/s and p99 of each run, the logging overhead (share of req/s lost), and for the
logged runs: answered requests (the service's own
`driver_ranking_requests_total{endpoint="/inference", outcome="ok"}`
read just before the stop), requests in the log after the stop, and the difference (lost).

    .venv/bin/python model_serving/bench/bench_prediction_log.py [--duration 30] [--rounds 2]
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pyarrow.compute as pc

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))  # the sibling benchmark script, not a package
import bench_online  # noqa: E402

BIN = Path(sys.executable).parent
WRK_SCRIPT = """
local threads = 0
function setup(thread)
  thread:set("tid", threads)
  threads = threads + 1
end
math.randomseed(%(seed)d)
local n, k, first = %(n)d, %(k)d, %(first)d
local counter = 0
request = function()
  counter = counter + 1
  local seen, ids = {}, {}
  while #ids < k do
    local id = first + math.random(0, n - 1)
    if not seen[id] then seen[id] = true; ids[#ids + 1] = id end
  end
  local body = string.format('{"request_id":"%(prefix)s-%%d-%%d","driver_ids":[%%s]}',
                              tid, counter, table.concat(ids, ","))
  return wrk.format("POST", "/inference", {["Content-Type"] = "application/json"}, body)
end
"""


@dataclass
class Run:
    logging: bool
    rps: float
    p99_ms: float
    wrk_requests: int
    non_2xx: int
    answered: int
    logged: int | None
    load: float  # 1-minute load average when the wrk run started


def answered_ok(url: str) -> int:
    """The service's own count of 200 answers of /inference."""
    return bench_online.metric_sum(
        url, "driver_ranking_requests_total", endpoint="/inference", outcome="ok"
    )


def serve_once(env: dict[str, str], tmp: Path, logging: bool, args: argparse.Namespace,
               script: Path, index: int) -> Run:  # fmt: skip
    from mlops_common.paths import scores_log_dir
    from mlops_common.settings import reset_settings_cache
    from mlops_platform.processes import free_port, wait_for
    from prediction_log.reader import read_predictions

    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log = tmp / f"serve-{index}-{'log' if logging else 'nolog'}.log"
    data_dir = tmp / f"data-{index}"
    data_dir.mkdir()  # each run's own predictions folder (the registry stays shared)
    run_env = {
        **env,
        "PREDICTION_LOG_ENABLED": str(logging).lower(),
        "MLOPS_DATA_DIR": str(data_dir),
        "FEAST_REGISTRY_PATH": str(tmp / "data" / "feast" / "registry.db"),
    }
    command = [str(BIN / "bentoml"), "serve", "online_service.service:DriverRanking",
               "--host", "127.0.0.1", "--port", str(port)]  # fmt: skip
    with log.open("wb") as out:
        process = subprocess.Popen(
            command, stdout=out, stderr=subprocess.STDOUT, env=run_env, start_new_session=True
        )
    try:
        wait_for(
            lambda: httpx.get(f"{url}/readyz", timeout=2).status_code == 200,
            timeout=240,
            interval=0.5,
            ignore=(httpx.HTTPError,),
            timeout_error=lambda: RuntimeError(f"service not ready; see {log}"),
        )
        bench_online.run_wrk(url, script, 4, 3)  # warm-up
        if logging:
            # Steady state: the log's writer opened the Feast store (an import of seconds, done
            # by its thread at start-up) and wrote the warm-up's requests.
            bench_online.wait_for_log_write(url, log)
        load = os.getloadavg()[0]
        wrk = bench_online.run_wrk(url, script, args.connections, args.duration)
        answered = answered_ok(url)
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=120)
    logged = None
    if logging:
        os.environ["MLOPS_DATA_DIR"] = str(data_dir)
        reset_settings_cache()
        # One chosen row per logged request (the warm-up repeats the request ids).
        table = read_predictions(scores_log_dir())
        logged = int(pc.sum(table.column("chosen")).as_py() or 0)
    return Run(logging, wrk.rps, wrk.p99_ms, wrk.requests, wrk.non_2xx, answered, logged, load)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--drivers", type=int, default=10_000)
    parser.add_argument("--ids-per-request", type=int, default=5)
    parser.add_argument("--duration", type=int, default=30, help="Seconds per wrk run.")
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--rounds", type=int, default=2, help="Off/on pairs.")
    args = parser.parse_args()
    if not shutil.which("wrk"):
        raise SystemExit("wrk is not installed: make setup_dev")
    from mlops_platform.processes import (
        free_port,
        start_mlflow_server,
        start_redis_server,
        stop_process,
        stop_process_group,
    )

    tmp = Path(tempfile.mkdtemp(prefix="bench-prediction-log-"))
    redis_port, mlflow_port = free_port(), free_port()
    env = bench_online.bench_env(tmp, redis_port, mlflow_port)
    os.environ.update(env)
    (tmp / "redis").mkdir()
    (tmp / "mlflow").mkdir()
    redis_process = start_redis_server(tmp / "redis", redis_port)
    mlflow_process = start_mlflow_server(tmp / "mlflow", mlflow_port, env, timeout=300)
    runs: list[Run] = []
    try:
        from data_pipeline.materialize import materialize
        from data_pipeline.settings import get_data_settings
        from feature_store.apply import apply_repo
        from mlops_testing import register_tiny_champion

        bench_online.write_features(get_data_settings().driver_stats_path, args.drivers, 1001)
        apply_repo()
        materialize(datetime.now(UTC))
        register_tiny_champion(env["MLFLOW_TRACKING_URI"], env["MLFLOW_MODEL_NAME"])
        index = 0
        for round_ in range(args.rounds):
            # ABBA order (off/on, then on/off, ...): a drift of the machine's load, or
            # anything favouring the first or second start of a pair, falls on both alike.
            for logging in (False, True) if round_ % 2 == 0 else (True, False):
                script = tmp / f"bench-{index}.lua"
                script.write_text(
                    WRK_SCRIPT
                    % {
                        "seed": 42 + index,
                        "n": args.drivers,
                        "k": args.ids_per_request,
                        "first": 1001,
                        "prefix": f"r{round_}",
                    }
                )
                run = serve_once(env, tmp, logging, args, script, index)
                index += 1
                runs.append(run)
                lost = ""
                if run.logged is not None:
                    lost = f"  logged {run.logged}  lost {run.answered - run.logged}"
                print(
                    f"log {'on ' if logging else 'off'} {run.rps:8.0f} req/s  p99 "
                    f"{run.p99_ms:7.2f} ms  load {run.load:4.1f}  wrk requests "
                    f"{run.wrk_requests} (non-2xx {run.non_2xx})  answered {run.answered}{lost}",
                    flush=True,
                )
    finally:
        stop_process_group(mlflow_process)
        stop_process(redis_process)
        shutil.rmtree(tmp, ignore_errors=True)
    import statistics

    off = [r.rps for r in runs if not r.logging]
    on = [r.rps for r in runs if r.logging]
    mean_off, mean_on = sum(off) / len(off), sum(on) / len(on)
    ratios = [b / a for a, b in zip(off, on, strict=True)]
    print(
        f"\nmean req/s: log off {mean_off:.0f}, log on {mean_on:.0f}: overhead "
        f"{(1 - mean_on / mean_off):.1%} of req/s (goal <= 10%); per pair on/off "
        f"{', '.join(f'{r:.2f}' for r in ratios)}, median {statistics.median(ratios):.2f}; "
        f"lost rows over the logged runs: "
        f"{sum(r.answered - (r.logged or 0) for r in runs if r.logging)}"
    )


if __name__ == "__main__":
    main()
