"""Benchmark: Feast's materialize against the fast path, side by side, on a real Redis.

Generates N drivers (default 10,000) over a short window, starts a redis-server on a free
port, and materializes the same interval with each engine on an empty Redis and a fresh
registry, REPEAT times each. Prints rows/s per engine (median of the repeats; wall time as the
engine reports it, and per CPU second of this process, which other load barely moves),
the ratios, the load average, and whether both engines left identical Redis contents.

    .venv/bin/python data_pipeline/bench/bench_materialize.py [--drivers 10000] [--repeat 3]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import redis
from mlops_platform.processes import free_port, start_redis_server, stop_process

END = datetime(2026, 11, 20, 12, tzinfo=UTC)


def run_once(engine: str, client: redis.Redis) -> tuple[float, float, int, dict[bytes, dict]]:
    """One materialization on an empty Redis and registry: wall rows/s (as the engine reports
    it), rows per CPU second of this process (insensitive to other load; excludes Redis's own
    CPU), rows, and what Redis holds afterwards."""
    from data_pipeline.materialize import materialize
    from feature_store.apply import apply_repo
    from mlops_common.settings import get_feast_settings

    client.flushall()
    registry = get_feast_settings().registry_path
    assert registry is not None
    registry.unlink(missing_ok=True)
    apply_repo()
    cpu = time.process_time()
    [result] = materialize(END, engine=engine)
    cpu = time.process_time() - cpu
    contents: dict[bytes, dict[bytes, bytes]] = {
        key: client.hgetall(key)  # type: ignore[misc]
        for key in client.scan_iter(count=5000)
    }
    return result.rows_per_second, result.rows / cpu, result.rows, contents


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--drivers", type=int, default=10_000)
    parser.add_argument("--days", type=int, default=1, help="Window of the generated stats.")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()

    workdir = Path(tempfile.mkdtemp(prefix="bench_materialize_"))
    port = free_port()
    process = start_redis_server(workdir, port)
    try:
        os.environ.update(
            MLOPS_DATA_DIR=str(workdir / "data"),
            MLOPS_ARTIFACT_ROOT=str(workdir / "artifacts"),
            MLOPS_STATE_DIR=str(workdir / "state"),
            REDIS_HOST="127.0.0.1",
            REDIS_PORT=str(port),
        )
        from data_pipeline.generate import generate
        from mlops_common.settings import reset_settings_cache

        reset_settings_cache()
        generate(
            n_drivers=args.drivers, days=args.days, end_time=END, n_orders=100, n_batch_requests=10
        )
        client = redis.Redis(port=port)
        rates: dict[str, list[float]] = {"feast": [], "fast": []}
        cpu_rates: dict[str, list[float]] = {"feast": [], "fast": []}
        contents: dict[str, dict] = {}
        rows: dict[str, int] = {}
        load_before = os.getloadavg()[0]
        for _ in range(args.repeat):
            for engine in ("feast", "fast"):
                rate, cpu_rate, rows[engine], contents[engine] = run_once(engine, client)
                rates[engine].append(rate)
                cpu_rates[engine].append(cpu_rate)
        wall = {e: statistics.median(rates[e]) for e in rates}
        cpu = {e: statistics.median(cpu_rates[e]) for e in cpu_rates}
        print(
            f"drivers={args.drivers} days={args.days} rows written={rows['fast']} "
            f"repeats={args.repeat}; 1-min load average {load_before:.1f} -> "
            f"{os.getloadavg()[0]:.1f} on {os.cpu_count()} cores"
        )
        for engine in ("feast", "fast"):
            runs = ", ".join(f"{r:,.0f}" for r in rates[engine])
            print(
                f"{engine:>5}: {wall[engine]:>9,.0f} rows/s wall (runs: {runs}); "
                f"{cpu[engine]:>9,.0f} rows per CPU second"
            )
        print(
            f"ratio fast/feast: {wall['fast'] / wall['feast']:.1f}x wall, "
            f"{cpu['fast'] / cpu['feast']:.1f}x CPU"
        )
        print(f"identical Redis contents: {contents['fast'] == contents['feast']}")
    finally:
        stop_process(process)
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
