"""Benchmark the batch serving task: DuckDB ASOF engine vs Feast's offline store.

Generates the case with the data pipeline's generator (default: 10,000 drivers x 30 days of
hourly statistics = 7.2 M feature rows, 1,000,000 requests), registers a tiny champion on a
throw-away MLflow server (the tasks talk to a server, as in the platform) and loads it once
into the local model cache (timed: the first load of a version, paid once per machine), then
runs `model-serving batch` (extract + predict + write, the same code as the DAG's two tasks)
once per engine, each in its own process, and prints rows/s and the process's peak RSS (from
`os.wait4`) side by side with the ratio. The two outputs are compared for equality.
Everything lives under --workdir; reruns reuse generated data of the same size.

    .venv/bin/python model_serving/bench/bench_batch.py                      # full size
    .venv/bin/python model_serving/bench/bench_batch.py --drivers 1000 --days 30 --requests 100000
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
END_TIME = datetime(2026, 11, 1, tzinfo=UTC)  # fixed, so the data does not depend on the day


def _environment(workdir: Path) -> dict[str, str]:
    return {
        "MLOPS_DATA_DIR": str(workdir / "data"),
        "MLOPS_ARTIFACT_ROOT": str(workdir / "artifacts"),
        "MLOPS_STATE_DIR": str(workdir / "state"),
        "MLOPS_LOG_LEVEL": "WARNING",
    }


def generate(workdir: Path, drivers: int, days: int, requests: int) -> float | None:
    """Generate the case unless the same size is already there; seconds taken or None."""
    marker = workdir / "data" / "bench_case.json"
    case = {"drivers": drivers, "days": days, "requests": requests, "end": END_TIME.isoformat()}
    if marker.exists() and json.loads(marker.read_text()) == case:
        return None
    from data_pipeline.generate import generate as generate_data

    started = time.perf_counter()
    generate_data(
        n_drivers=drivers,
        days=days,
        end_time=END_TIME,
        n_orders=10,
        n_batch_requests=requests,
        output_dir=workdir / "data",
    )
    seconds = time.perf_counter() - started
    marker.write_text(json.dumps(case))
    return seconds


def prepare(workdir: Path) -> tuple[str, float]:
    """Apply the feature repo, register a tiny champion and load it once into the model
    cache; the champion's version and that first load's seconds."""
    import mlflow
    from feature_store.apply import apply_repo
    from mlops_common.champion import resolve_champion
    from mlops_common.models import load_model
    from mlops_common.settings import get_mlflow_settings
    from mlops_testing import register_tiny_champion

    apply_repo()
    uri = get_mlflow_settings().resolved_tracking_uri
    mlflow.set_tracking_uri(uri)
    mlflow.set_experiment("bench")
    version = register_tiny_champion(uri, get_mlflow_settings().model_name).version
    started = time.perf_counter()
    load_model(resolve_champion(uri).source, tracking_uri=uri)
    return version, time.perf_counter() - started


def run_engine(engine: str, workdir: Path) -> dict[str, float | str]:
    """One `model-serving batch` process: its summary, wall time and peak RSS."""
    run_id = f"bench-{engine}"
    command = [
        str(ROOT / ".venv" / "bin" / "model-serving"),
        "batch",
        "--run-id",
        run_id,
        "--engine",
        engine,
    ]
    started = time.perf_counter()
    process = subprocess.Popen(command, env=os.environ.copy(), stdout=subprocess.PIPE, text=True)
    _, status, usage = os.wait4(process.pid, 0)
    wall = time.perf_counter() - started
    stdout = process.stdout.read() if process.stdout else ""
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"{engine} run failed (exit {status}):\n{stdout}")
    summary = json.loads(stdout)
    return {
        "engine": engine,
        "rows": summary["rows_in"],
        "rows_predicted": summary["rows_predicted"],
        "extract_s": summary["extract_seconds"],
        "predict_s": summary["predict_seconds"],
        "task_s": summary["seconds"],
        "rows_per_s": summary["rows_per_second"],
        "data_s": summary["data_seconds"],
        "data_rows_per_s": summary["data_rows_per_second"],
        "process_wall_s": round(wall, 2),
        "peak_rss_mib": round(usage.ru_maxrss / 1024),
        "output": summary["output"],
    }


def same_output(first: str, second: str) -> bool:
    """Equal predictions parquet apart from the run id column."""
    import pyarrow.parquet as pq

    a = pq.read_table(first).drop_columns(["run_id"])
    b = pq.read_table(second).drop_columns(["run_id"])
    return a.equals(b)


def _load() -> str:
    """The 1, 5 and 15 minute load averages: other work on the 2 cores skews every figure."""
    return " ".join(f"{value:.1f}" for value in os.getloadavg())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--drivers", type=int, default=10_000)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--requests", type=int, default=1_000_000)
    parser.add_argument("--engines", default="sorted,duckdb,feast", help="comma-separated")
    parser.add_argument("--workdir", type=Path, default=ROOT / "model_serving/bench/results")
    args = parser.parse_args()
    workdir = args.workdir.resolve() / f"d{args.drivers}-{args.days}d-r{args.requests}"
    workdir.mkdir(parents=True, exist_ok=True)
    os.environ.update(_environment(workdir))

    from mlops_platform.processes import free_port, start_mlflow_server, stop_process_group

    mlflow_port = free_port()
    (workdir / "mlflow").mkdir(exist_ok=True)
    server = start_mlflow_server(workdir / "mlflow", mlflow_port, dict(os.environ), timeout=240)
    os.environ["MLFLOW_TRACKING_URI"] = f"http://127.0.0.1:{mlflow_port}"
    try:
        run(args, workdir)
    finally:
        stop_process_group(server)


def run(args: argparse.Namespace, workdir: Path) -> None:
    generated = generate(workdir, args.drivers, args.days, args.requests)
    feature_rows = args.drivers * args.days * 24
    print(
        f"case: {args.drivers} drivers x {args.days} days (<= {feature_rows:,} feature rows), "
        f"{args.requests:,} requests; cores: {os.cpu_count()}"
    )
    if generated is not None:
        print(f"generation: {generated:.1f} s")
    version, first_load = prepare(workdir)
    print(
        f"champion version {version}; its first load (download into the cache): {first_load:.2f} s"
    )
    print(f"load average at the start: {_load()}")

    results = [run_engine(engine, workdir) for engine in args.engines.split(",")]
    columns = [
        "engine",
        "rows",
        "extract_s",
        "predict_s",
        "task_s",
        "rows_per_s",
        "data_s",
        "data_rows_per_s",
        "process_wall_s",
        "peak_rss_mib",
    ]
    print(" ".join(f"{c:>14}" for c in columns))
    for result in results:
        print(" ".join(f"{result[c]!s:>14}" for c in columns))
    by_engine = {r["engine"]: r for r in results}
    reference = by_engine.get("feast")
    for result in results:
        if reference is None or result is reference:
            continue
        print(
            f"{result['engine']} vs feast: "
            f"{float(result['rows_per_s']) / float(reference['rows_per_s']):.1f}x rows/s "
            f"(join+predict+write "
            f"{float(result['data_rows_per_s']) / float(reference['data_rows_per_s']):.1f}x), "
            f"{float(reference['peak_rss_mib']) / float(result['peak_rss_mib']):.1f}x less "
            f"peak RSS; same output: {same_output(str(result['output']), str(reference['output']))}"
        )
    print(f"load average at the end: {_load()}")
    (workdir / "results.json").write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
