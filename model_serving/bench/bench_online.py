"""Online serving bench: our service vs the course-style baseline, same data, same model.

Starts everything it needs on free loopback ports under a temporary directory and stops it
at the end: a redis-server, an MLflow tracking server, N drivers' features materialized into
Redis, a tiny champion registered in MLflow, then each service with `bentoml serve` (1 worker).
A third, empty BentoML endpoint gives the framework's ceiling at that moment (the machine is
shared, so absolute figures move with its load). Load comes from `wrk` (apt: `apt-get install
-y wrk`): every request asks for K random distinct ids among the N drivers. Prints req/s
and p50/p90/p99 at 1 and 16 connections, and ratios.

    .venv/bin/python model_serving/bench/bench_online.py [--drivers 10000] [--duration 10]
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx

HERE = Path(__file__).resolve().parent
BIN = Path(sys.executable).parent
SERVICES = {
    "ours": "model_serving.service:DriverRanking",
    "baseline": "baseline_service:Baseline",
    "empty": "empty_service:Empty",  # the framework's ceiling on this machine, for reference
}
WRK_SCRIPT = """
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
  local body = string.format('{"request_id":"bench-%%d","driver_ids":[%%s]}',
                              counter, table.concat(ids, ","))
  return wrk.format("POST", "/inference", {["Content-Type"] = "application/json"}, body)
end
"""


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for(check: object, what: str, timeout: float, log: Path | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if check():  # type: ignore[operator]
                return
        except Exception:
            pass
        time.sleep(0.3)
    tail = log.read_text()[-3000:] if log and log.exists() else ""
    raise SystemExit(f"{what} not ready within {timeout:.0f} s\n{tail}")


@contextmanager
def process(
    command: list[str], log: Path, env: dict[str, str], cwd: Path | None = None
) -> Iterator[subprocess.Popen[bytes]]:
    """Run COMMAND in its own process group; kill the group on exit."""
    with log.open("wb") as out:
        proc = subprocess.Popen(
            command, stdout=out, stderr=subprocess.STDOUT, env=env, cwd=cwd, start_new_session=True
        )
    try:
        yield proc
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()


def write_features(path: Path, n_drivers: int, first_id: int) -> None:
    """One recent row of driver_stats per driver (the online store keeps the latest only)."""
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(0)
    ts = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) - timedelta(hours=1)
    frame = pd.DataFrame(
        {
            "driver_id": np.arange(first_id, first_id + n_drivers, dtype="int64"),
            "event_timestamp": pd.Series([ts] * n_drivers).astype("datetime64[us, UTC]"),
            "created": pd.Series([ts] * n_drivers).astype("datetime64[us, UTC]"),
            "conv_rate": rng.uniform(0, 1, n_drivers).astype("float32"),
            "acc_rate": rng.uniform(0, 1, n_drivers).astype("float32"),
            "avg_daily_trips": rng.integers(0, 40, n_drivers).astype("int64"),
        }
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    frame.to_parquet(path, index=False)


@dataclass
class WrkResult:
    rps: float
    p50_ms: float
    p90_ms: float
    p99_ms: float
    non_2xx: int
    errors: str


def _ms(text: str) -> float:
    value, unit = re.fullmatch(r"([\d.]+)(us|ms|s)", text).groups()  # type: ignore[union-attr]
    return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]


def run_wrk(url: str, script: Path, connections: int, duration: int) -> WrkResult:
    threads = min(connections, 2)
    out = subprocess.run(
        [
            "wrk",
            "-t",
            str(threads),
            "-c",
            str(connections),
            "-d",
            f"{duration}s",
            "--latency",
            "-s",
            str(script),
            url,
        ],
        capture_output=True,
        text=True,
        check=True,
        timeout=duration + 60,
    ).stdout
    percentiles = dict(re.findall(r"^\s+(50|90|99)%\s+(\S+)$", out, re.MULTILINE))
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    non_2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    errors = re.search(r"Socket errors:.*", out)
    return WrkResult(
        rps,
        _ms(percentiles["50"]),
        _ms(percentiles["90"]),
        _ms(percentiles["99"]),
        int(non_2xx.group(1)) if non_2xx else 0,
        errors.group(0) if errors else "",
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--drivers", type=int, default=10_000)
    parser.add_argument("--ids-per-request", type=int, default=5)
    parser.add_argument("--duration", type=int, default=10, help="Seconds per wrk run.")
    parser.add_argument("--connections", default="1,16")
    parser.add_argument("--services", default="ours,baseline,empty")
    args = parser.parse_args()
    if not shutil.which("wrk"):
        raise SystemExit("wrk is not installed: apt-get install -y wrk")
    first_id = 1001
    tmp = Path(tempfile.mkdtemp(prefix="bench-online-"))
    redis_port, mlflow_port = free_port(), free_port()
    env = {
        **os.environ,
        "MLOPS_DATA_DIR": str(tmp / "data"),
        "MLOPS_STATE_DIR": str(tmp / "state"),
        "MLOPS_ARTIFACT_ROOT": str(tmp / "artifacts"),
        "REDIS_HOST": "127.0.0.1",
        "REDIS_PORT": str(redis_port),
        "MLFLOW_TRACKING_URI": f"http://127.0.0.1:{mlflow_port}",
        "MLFLOW_MODEL_NAME": "driver_ranking_bench",
        "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false",
        "SERVING_ACCESS_LOG": "false",
        "BENTOML_HOME": str(tmp / "bentoml"),
    }
    os.environ.update(env)
    results: dict[tuple[str, int], WrkResult] = {}
    try:
        with (
            process(
                [
                    "redis-server",
                    "--port",
                    str(redis_port),
                    "--bind",
                    "127.0.0.1",
                    "--save",
                    "",
                    "--appendonly",
                    "no",
                ],
                tmp / "redis.log",
                env,
            ),
            process(
                [
                    str(BIN / "mlflow"),
                    "server",
                    "--backend-store-uri",
                    f"sqlite:///{tmp / 'mlflow.db'}",
                    "--artifacts-destination",
                    str(tmp / "mlartifacts"),
                    "--host",
                    "127.0.0.1",
                    "--port",
                    str(mlflow_port),
                    "--workers",
                    "1",
                ],
                tmp / "mlflow.log",
                env,
            ),
        ):
            import redis

            wait_for(lambda: redis.Redis(port=redis_port).ping(), "redis", 30, tmp / "redis.log")
            from data_pipeline.materialize import materialize
            from data_pipeline.settings import get_data_settings
            from feature_store.apply import apply_repo

            write_features(get_data_settings().driver_stats_path, args.drivers, first_id)
            apply_repo()
            materialize(datetime.now(UTC))
            print(f"materialized {args.drivers} drivers into redis :{redis_port}", flush=True)
            wait_for(
                lambda: httpx.get(f"{env['MLFLOW_TRACKING_URI']}/health").status_code == 200,
                "mlflow",
                300,
                tmp / "mlflow.log",
            )
            from mlops_testing import register_tiny_champion

            champion = register_tiny_champion(env["MLFLOW_TRACKING_URI"], env["MLFLOW_MODEL_NAME"])
            print(f"registered {champion.name} v{champion.version}", flush=True)
            script = tmp / "bench.lua"
            script.write_text(
                WRK_SCRIPT
                % {"seed": 42, "n": args.drivers, "k": args.ids_per_request, "first": first_id}
            )
            for name in args.services.split(","):
                port = free_port()
                log = tmp / f"serve-{name}.log"
                with process(
                    [
                        str(BIN / "bentoml"),
                        "serve",
                        SERVICES[name],
                        "--host",
                        "127.0.0.1",
                        "--port",
                        str(port),
                    ],
                    log,
                    env,
                    cwd=HERE,
                ):
                    url = f"http://127.0.0.1:{port}"
                    wait_for(
                        lambda url=url: httpx.get(f"{url}/readyz").status_code == 200,
                        f"{name} service",
                        180,
                        log,
                    )
                    run_wrk(url, script, 4, 3)  # warm-up
                    for connections in (int(c) for c in args.connections.split(",")):
                        result = run_wrk(url, script, connections, args.duration)
                        results[(name, connections)] = result
                        print(
                            f"{name:9s} c={connections:<3d} {result.rps:8.0f} req/s  "
                            f"p50 {result.p50_ms:7.2f} ms  p90 {result.p90_ms:7.2f} ms  "
                            f"p99 {result.p99_ms:7.2f} ms  non-2xx {result.non_2xx} "
                            f"{result.errors}",
                            flush=True,
                        )
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print("\nservice   conns    req/s   p50 ms   p90 ms   p99 ms")
    for (name, connections), r in results.items():
        print(
            f"{name:9s} {connections:5d} {r.rps:8.0f} {r.p50_ms:8.2f} {r.p90_ms:8.2f} "
            f"{r.p99_ms:8.2f}"
        )
    for connections in (int(c) for c in args.connections.split(",")):
        ours, base = results.get(("ours", connections)), results.get(("baseline", connections))
        if ours and base:
            print(
                f"c={connections}: throughput x{ours.rps / base.rps:.1f}, "
                f"p99 /{base.p99_ms / ours.p99_ms:.1f}, p50 /{base.p50_ms / ours.p50_ms:.1f}"
            )


if __name__ == "__main__":
    main()
