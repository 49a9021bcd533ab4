"""Benchmark the batch serving task: each engine (sorted, DuckDB ASOF, Spark) vs Feast's.

Generates the case with the data pipeline's generator (default: 10,000 drivers x 30 days of
hourly statistics = 7.2 M feature rows, 1,000,000 requests), registers a tiny champion on a
throw-away MLflow server (the tasks talk to a server, as in the platform) and loads it once
into the local model cache (timed: the first load of a version, paid once per machine), then
runs `model-serving batch` (extract + predict + write, the same code as the DAG's two tasks)
once per engine, each in its own process, and prints rows/s and the process's peak RSS (from
`os.wait4`) side by side with the ratio. The two outputs are compared for equality.
Everything lives under --workdir; reruns reuse generated data of the same size.

The `spark` engine runs with FEAST_OFFLINE_STORE=spark on a registry of its own, in local mode
(SPARK_MASTER, default local[2]). Its processes are sampled while it runs: the Python driver,
the JVM (Spark's driver and, in local mode, its executors) and the Python workers (the
spark_udf and Feast's mapInPandas), each with its peak RSS. Its fixed start-up cost is a run on
a 10-row request file (JVM, session, model in the workers), reported as `fixed_s`.
`spark` uses the default ASOF join; `spark-feast` the same engine with BATCH_SPARK_JOIN=feast
(Feast's Spark offline store).

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


def _spark_environment(workdir: Path) -> dict[str, str]:
    """The spark engine's settings: the Spark offline store, on a registry of its own."""
    return {
        "FEAST_OFFLINE_STORE": "spark",
        "FEAST_REGISTRY_PATH": str(workdir / "data" / "feast" / "registry-spark.db"),
    }


def prepare(workdir: Path, engines: list[str]) -> tuple[str, float]:
    """Apply the feature repo (and its Spark form for the spark engine), register a tiny
    champion and load it once into the model cache; the champion's version and that first
    load's seconds."""
    import mlflow
    from feature_store.apply import apply_repo
    from mlops_common.champion import resolve_champion
    from mlops_common.models import load_model
    from mlops_common.settings import get_mlflow_settings, reset_settings_cache
    from mlops_testing import register_tiny_champion

    apply_repo()
    if any(engine.startswith("spark") for engine in engines):
        saved = dict(os.environ)
        os.environ.update(_spark_environment(workdir))
        reset_settings_cache()
        apply_repo()
        os.environ.clear()
        os.environ.update(saved)
        reset_settings_cache()
    uri = get_mlflow_settings().resolved_tracking_uri
    mlflow.set_tracking_uri(uri)
    mlflow.set_experiment("bench")
    version = register_tiny_champion(uri, get_mlflow_settings().model_name).version
    started = time.perf_counter()
    load_model(resolve_champion(uri), tracking_uri=uri)
    return version, time.perf_counter() - started


def _sample_tree(pid: int, peaks: dict[str, int]) -> None:
    """Add the RSS of PID's process tree, by role, to PEAKS (keeping the maximum of each)."""
    import psutil

    try:
        root = psutil.Process(pid)
        processes = [root, *root.children(recursive=True)]
    except psutil.NoSuchProcess:
        return
    sums = {"driver": 0, "jvm": 0, "workers": 0}
    for process in processes:
        try:
            rss = process.memory_info().rss
            name = process.name()
        except psutil.NoSuchProcess:
            continue
        if process.pid == pid:
            sums["driver"] += rss
        elif name == "java":
            sums["jvm"] += rss
        else:
            sums["workers"] += rss
    sums["total"] = sum(sums.values())
    for role, value in sums.items():
        peaks[role] = max(peaks.get(role, 0), value)


def run_engine(
    engine: str, workdir: Path, requests: Path | None = None, run_id: str | None = None
) -> dict[str, float | str]:
    """One `model-serving batch` process: its summary, wall time and peak RSS (for spark: of
    the driver, the JVM and the Python workers, sampled every 0.2 s)."""
    run_id = run_id or f"bench-{engine}"
    spark = engine.startswith("spark")
    command = [
        str(ROOT / ".venv" / "bin" / "model-serving"),
        "batch",
        "--run-id",
        run_id,
        "--engine",
        "spark" if spark else engine,
    ]
    if requests is not None:
        command += ["--requests", str(requests)]
    env = os.environ.copy()
    if spark:
        env.update(_spark_environment(workdir))
        env["BATCH_SPARK_JOIN"] = "feast" if engine == "spark-feast" else "asof"
    peaks: dict[str, int] = {}
    started = time.perf_counter()
    process = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, text=True)
    status, usage = 0, None
    for _ in range(36_000):  # at most 2 hours of 0.2 s samples
        if spark:
            _sample_tree(process.pid, peaks)
        pid, status, usage = os.wait4(process.pid, os.WNOHANG)
        if pid:
            break
        time.sleep(0.2)
    else:
        process.kill()
        raise SystemExit(f"{engine} run did not finish in 2 hours")
    wall = time.perf_counter() - started
    stdout = process.stdout.read() if process.stdout else ""
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"{engine} run failed (exit {status}):\n{stdout}")
    summary = json.loads(stdout[stdout.index("{") :])
    assert usage is not None
    mib = 1024 * 1024
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
        "peak_rss_mib": round(peaks["total"] / mib) if peaks else round(usage.ru_maxrss / 1024),
        "driver_mib": round(peaks["driver"] / mib) if peaks else "",
        "jvm_mib": round(peaks["jvm"] / mib) if peaks else "",
        "workers_mib": round(peaks["workers"] / mib) if peaks else "",
        "output": summary["output"],
    }


def fixed_cost(engine: str, workdir: Path) -> float:
    """Wall seconds of ENGINE on a 10-row request file: its start-up cost, nearly no data."""
    import pyarrow.parquet as pq

    tiny = workdir / "data" / "requests-10.parquet"
    if not tiny.exists():
        pq.write_table(
            pq.read_table(workdir / "data" / "batch_requests.parquet").slice(0, 10), tiny
        )
    return float(run_engine(engine, workdir, tiny, f"bench-{engine}-fixed")["process_wall_s"])


def same_output(first: str, second: str) -> bool:
    """Equal predictions apart from the run id (Spark's partitioned dataset: as a set of rows,
    predictions to 1e-9, without its partition column)."""
    import numpy as np
    import pyarrow.parquet as pq

    frames = []
    for path in (first, second):
        frame = pq.read_table(path).to_pandas().drop(columns=["run_id"])
        frame = frame.drop(columns=["request_date"], errors="ignore")
        frame = frame.astype({c: str for c in ("model_name", "model_version")})
        frame = frame.sort_values(list(frame.columns), na_position="first", ignore_index=True)
        frames.append(frame)
    a, b = frames
    if list(a.columns) != list(b.columns) or len(a) != len(b):
        return False
    close = np.allclose(a.prediction, b.prediction, rtol=0, atol=1e-9, equal_nan=True)
    rest = a.drop(columns=["prediction"]).equals(b.drop(columns=["prediction"]))
    return bool(close and rest)


def _load() -> str:
    """The 1, 5 and 15 minute load averages: other work on the 2 cores skews every figure."""
    return " ".join(f"{value:.1f}" for value in os.getloadavg())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--drivers", type=int, default=10_000)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--requests", type=int, default=1_000_000)
    parser.add_argument("--engines", default="sorted,duckdb,spark,feast", help="comma-separated")
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
    engines = args.engines.split(",")
    version, first_load = prepare(workdir, engines)
    print(
        f"champion version {version}; its first load (download into the cache): {first_load:.2f} s"
    )
    print(f"load average at the start: {_load()}")

    results = []
    for engine in engines:
        result = run_engine(engine, workdir)
        result["fixed_s"] = fixed_cost(engine, workdir) if engine.startswith("spark") else ""
        result["load"] = _load()
        results.append(result)
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
        "driver_mib",
        "jvm_mib",
        "workers_mib",
        "fixed_s",
        "load",
    ]
    print(" ".join(f"{c:>14}" for c in columns))
    for result in results:
        print(" ".join(f"{result[c]!s:>14}" for c in columns))
    by_engine = {r["engine"]: r for r in results}
    reference = by_engine.get("feast", results[0])
    for result in results:
        if result is reference:
            continue
        print(
            f"{result['engine']} vs {reference['engine']}: "
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
