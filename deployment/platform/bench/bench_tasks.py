"""Fixed costs of the DAG tasks: what each task command pays before and beside its work.

Runs the tasks of the four demo DAG runs in order (data_pipeline, materialize, training_pipeline,
batch_serving_pipeline) as the local-mode operator runs them: one CLI process per task, on the
demo's default data sizes, against a throw-away redis-server and MLflow server on free loopback
ports. Per task it prints the wall time, the time spent importing (`python -X importtime`,
lazy imports inside the command included), the rest (work, I/O, registry calls) and the peak RSS
(`os.wait4`), beside the figures measured before the fixed-cost work (2026-12-01, `make demo`
task durations in Airflow, which add about 1-2 s of operator overhead per task). Then it starts
the online service (`bentoml serve`) and reports the time to its first ready `/readyz`, and the
time from moving the champion alias to the service answering with the new version.

    .venv/bin/python deployment/platform/bench/bench_tasks.py [--json results.json]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import httpx
from mlops_platform import processes as proc

BIN = Path(sys.executable).parent
END_TIME = "2026-11-30T12:00:00+00:00"
# Task durations of the demo before this work (Airflow task durations, 2026-12-01).
BEFORE = {
    "feast-apply": 14.0,
    "materialize": 15.0,
    "training extract": 14.0,
    "train": 23.0,
    "evaluate": 21.0,
    "register": 19.0,
    "batch extract": 14.0,
    "predict": 21.0,
}
# (DAG, task label, CLI, arguments); RUN is replaced by the DAG's run id, END by END_TIME.
TASKS = [
    ("data_pipeline", "ingest", "data-pipeline", "ingest --run-id RUN --end-time END"),
    ("data_pipeline", "validate", "data-pipeline", "validate --run-id RUN"),
    ("data_pipeline", "feast-apply", "data-pipeline", "feast-apply --run-id RUN"),
    ("data_pipeline", "materialize", "data-pipeline", "materialize --run-id RUN --end-time END"),
    ("materialize", "feast-apply", "data-pipeline", "feast-apply --run-id RUN"),
    ("materialize", "materialize", "data-pipeline", "materialize --run-id RUN --end-time END"),
    ("training_pipeline", "feast-apply", "training-pipeline", "feast-apply --run-id RUN"),
    ("training_pipeline", "training extract", "training-pipeline", "extract --run-id RUN"),
    ("training_pipeline", "validate", "training-pipeline", "validate --run-id RUN"),
    ("training_pipeline", "prepare", "training-pipeline", "prepare --run-id RUN"),
    ("training_pipeline", "train", "training-pipeline", "train --run-id RUN"),
    ("training_pipeline", "evaluate", "training-pipeline", "evaluate --run-id RUN"),
    ("training_pipeline", "register", "training-pipeline", "register --run-id RUN"),
    ("batch_serving_pipeline", "feast-apply", "model-serving", "feast-apply --run-id RUN"),
    ("batch_serving_pipeline", "batch extract", "model-serving", "extract --run-id RUN"),
    ("batch_serving_pipeline", "predict", "model-serving", "predict --run-id RUN"),
]


@dataclass
class TaskFigures:
    dag: str
    task: str
    seconds: float
    import_seconds: float
    peak_rss_mib: float
    before_seconds: float | None


def _import_seconds(stderr: str) -> float:
    """Total import time from `-X importtime` lines (top-level entries' cumulative times)."""
    total_us = 0
    for line in stderr.splitlines():
        if not line.startswith("import time:") or "|" not in line:
            continue
        _, cumulative, name = (part for part in line.removeprefix("import time:").split("|"))
        if cumulative.strip().isdigit() and not name.startswith("  "):  # nesting is indented
            total_us += int(cumulative)
    return total_us / 1e6


def run_task(dag: str, task: str, cli: str, args: str, env: dict[str, str]) -> TaskFigures:
    argv = [a.replace("RUN", f"bench-{dag}").replace("END", END_TIME) for a in args.split()]
    started = time.perf_counter()
    process = subprocess.Popen(
        [sys.executable, "-X", "importtime", str(BIN / cli), *argv],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert process.stderr is not None
    stderr = process.stderr.read()
    _, status, usage = os.wait4(process.pid, 0)  # this child's own peak RSS
    process.returncode = os.waitstatus_to_exitcode(status)
    seconds = time.perf_counter() - started
    rss_kib = usage.ru_maxrss
    if process.returncode != 0:
        tail = "\n".join(line for line in stderr.splitlines() if "import time:" not in line)
        raise SystemExit(f"{cli} {' '.join(argv)} failed ({process.returncode}):\n{tail[-3000:]}")
    return TaskFigures(
        dag, task, round(seconds, 2), round(_import_seconds(stderr), 2), rss_kib / 1024,
        BEFORE.get(task),
    )  # fmt: skip


def _served_version(url: str) -> str | None:
    try:
        body = httpx.get(f"{url}/readyz", timeout=2).json()
    except (httpx.HTTPError, ValueError):
        return None
    model = body.get("model") if isinstance(body, dict) else None
    return str(model.get("version")) if isinstance(model, dict) else None


def online_figures(env: dict[str, str], workdir: Path) -> dict[str, float]:
    """Seconds from `bentoml serve` to the first ready /readyz (model cached), and from moving
    the alias to the service answering with the new version."""
    port = proc.free_port()
    env = {**env, "SERVING_PORT": str(port), "SERVING_MODEL_REFRESH_SECONDS": "1"}
    url = f"http://127.0.0.1:{port}"
    log = (workdir / "serve.log").open("wb")
    started = time.perf_counter()
    process = subprocess.Popen(
        [str(BIN / "model-serving"), "serve"], env=env, stdout=log, stderr=subprocess.STDOUT,
        start_new_session=True,
    )  # fmt: skip
    try:
        first = proc.wait_for(
            lambda: _served_version(url),
            timeout=180,
            interval=0.1,
            timeout_error=lambda: SystemExit(f"the service did not get ready; log {log.name}"),
        )
        ready = time.perf_counter() - started
        # A second training run with another seed passes the gates and moves the alias.
        swap_env = {**env, "TRAIN_SEED": "43", "TRAIN_CHAMPION_TOLERANCE": "1"}
        for step in ("extract", "validate", "prepare", "train", "evaluate", "register"):
            subprocess.run(
                [str(BIN / "training-pipeline"), step, "--run-id", "bench-swap"],
                env=swap_env, check=True, capture_output=True,
            )  # fmt: skip
        moved = time.perf_counter()
        proc.wait_for(
            lambda: _served_version(url) not in (None, first),
            timeout=120,
            interval=0.05,
            timeout_error=lambda: SystemExit("the new champion was not picked up in 120 s"),
        )
        swapped = time.perf_counter() - moved
    finally:
        proc.stop_process_group(process)
    return {"ready_seconds": round(ready, 2), "swap_seconds_after_alias_move": round(swapped, 2)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--json", type=Path, help="Also write the figures as JSON here.")
    parser.add_argument("--no-online", action="store_true", help="Tasks only.")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-tasks-") as tmp:
        root = Path(tmp)
        (root / "redis").mkdir()
        (root / "mlflow").mkdir()
        redis_port, mlflow_port = proc.free_port(), proc.free_port()
        redis = proc.start_redis_server(root / "redis", redis_port)
        mlflow = proc.start_mlflow_server(
            root / "mlflow", mlflow_port, dict(os.environ), timeout=240
        )
        env = {
            **os.environ,
            "MLOPS_STATE_DIR": str(root / "state"),
            "MLOPS_ARTIFACT_ROOT": str(root / "artifacts"),
            "MLOPS_DATA_DIR": str(root / "data"),
            "REDIS_PORT": str(redis_port),
            "MLFLOW_TRACKING_URI": f"http://127.0.0.1:{mlflow_port}",
        }
        try:
            figures = [run_task(dag, task, cli, argv, env) for dag, task, cli, argv in TASKS]
            online = {} if args.no_online else online_figures(env, root)
        finally:
            proc.stop_process(redis)
            proc.stop_process_group(mlflow)
    print(f"load average at the end: {os.getloadavg()[0]:.2f} (2 cores)")
    print(
        f"{'DAG':<24} {'task':<18} {'total':>7} {'imports':>8} {'rest':>6} {'peak RSS':>9}  before"
    )
    for f in figures:
        before = (
            f"{f.before_seconds:.0f} s ({f.before_seconds / f.seconds:.1f}x)"
            if f.before_seconds
            else "-"
        )
        print(
            f"{f.dag:<24} {f.task:<18} {f.seconds:>6.1f}s {f.import_seconds:>7.1f}s "
            f"{f.seconds - f.import_seconds:>5.1f}s {f.peak_rss_mib:>6.0f} MiB  {before}"
        )  # fmt: skip
    total = sum(f.seconds for f in figures)
    print(
        f"all {len(figures)} tasks: {total:.1f} s; slowest {max(f.seconds for f in figures):.1f} s"
    )
    for key, value in online.items():
        print(f"online service {key.replace('_', ' ')}: {value:.2f}")
    if args.json:
        payload = {"tasks": [asdict(f) for f in figures], "online": online, "total_seconds": total}
        args.json.write_text(json.dumps(payload, indent=2) + "\n")


if __name__ == "__main__":
    main()
