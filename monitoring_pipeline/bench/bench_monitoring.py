"""Monitoring bench: what one hourly run costs as the history grows.

Builds a synthetic history of 1 h, 24 h and 7 days at RATE requests an hour (5 candidates each)
in the project's own datasets and schemas: the prediction log written by its writer on a real
Feast registry (features in Feast's logging schema, predictions beside), the outcomes of the
chosen drivers (two minutes after each request) by `write_outcomes`. Every hour but the last is
one file per dataset (as compaction leaves it); the last hour is in small files as the online
service flushes them (one every FLUSH seconds). Then, each in its own process (for its peak
RSS), for the last hour:

* the monitoring run's reads: served rows of the window, its outcomes, the known request ids
  and the join (`monitoring_pipeline.served`, `prediction_log.outcomes.join_outcomes`);
* label collection (`data_pipeline.labels.collect_labels` with a one-hour window);
* compaction of the last hour (`mlops_common.compaction`) of the features, predictions and
  outcomes.

Prints time and peak RSS of each, and their ratios to the 1-hour history. Goal: 7 days within
1.5x of 1 hour for the monitoring run's time and RSS; compaction of one hour under a minute.

    .venv/bin/python monitoring_pipeline/bench/bench_monitoring.py [--rate 36000] [--flush 5]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np

FEATURES = ("conv_rate", "acc_rate", "avg_daily_trips")
CANDIDATES = 5
DRIVERS = 10_000
HISTORIES = {"1 h": 1, "24 h": 24, "7 days": 7 * 24}
END = datetime(2026, 12, 1, tzinfo=UTC)
GRACE_SECONDS = 3600


def _peak_rss_mib() -> float:
    """This process's peak RSS: VmHWM, which starts afresh at exec (ru_maxrss keeps the
    forking parent's figure across exec on Linux)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmHWM in /proc/self/status")


def _batch(rng: np.random.Generator, prefix: str, requests: int, start: datetime, seconds: float):  # type: ignore[no-untyped-def]
    """REQUESTS answered requests spread over SECONDS from START: a LogBatch."""
    from prediction_log.writer import LogBatch

    rows = requests * CANDIDATES
    offsets = np.sort(rng.uniform(0, seconds, requests))
    first = np.datetime64(start.replace(tzinfo=None), "us")
    stamps = first + (offsets * 1e6).astype("timedelta64[us]")
    request_ids = np.array([f"{prefix}-{i}" for i in range(requests)], dtype=object)
    rank = np.tile(np.arange(1, CANDIDATES + 1, dtype=np.int32), requests)
    values = np.column_stack(
        [rng.uniform(0, 1, rows), rng.uniform(0, 1, rows), rng.integers(0, 40, rows)]
    ).astype("float64")
    return LogBatch(
        feature_names=FEATURES,
        request_id=np.repeat(request_ids, CANDIDATES),
        logged_at=np.repeat(stamps, CANDIDATES),
        driver_id=rng.integers(1001, 1001 + DRIVERS, rows).astype(np.int64),
        values=values,
        found=np.ones(rows, dtype=bool),
        score=np.sort(rng.uniform(0, 1, rows).reshape(requests, CANDIDATES))[:, ::-1].ravel(),
        rank=rank,
        chosen=rank == 1,
        model_name=np.array(["driver_ranking"] * rows, dtype=object),
        model_version=np.array(["1"] * rows, dtype=object),
        source="online",
    )


def _write_outcomes(rng: np.random.Generator, batch, name: str) -> None:  # type: ignore[no-untyped-def]
    import pyarrow as pa
    from mlops_common.paths import outcomes_dir
    from prediction_log.outcomes import OUTCOME_SCHEMA, write_outcomes

    chosen = batch.chosen
    at = batch.logged_at[chosen] + np.timedelta64(120, "s")
    table = pa.table(
        {
            "request_id": pa.array(batch.request_id[chosen], pa.string()),
            "driver_id": pa.array(batch.driver_id[chosen], pa.int64()),
            "outcome_timestamp": pa.array(at, pa.timestamp("us")).cast(pa.timestamp("us", "UTC")),
            "trip_completed": pa.array(rng.integers(0, 2, int(chosen.sum())), pa.int64()),
        },
        schema=OUTCOME_SCHEMA,
    )
    write_outcomes(table, outcomes_dir(), name)


def build_history(root: Path, hours: int, rate: int, flush: float) -> None:
    """HOURS of history ending at END under ROOT (a data dir): all but the last hour one file
    per dataset and hour, the last in small files every FLUSH seconds."""
    from feature_store.apply import apply_repo
    from prediction_log.writer import open_writer

    apply_repo()
    writer = open_writer()
    rng = np.random.default_rng(7)
    for back in range(hours, 1, -1):
        start = END - timedelta(hours=back)
        batch = _batch(rng, f"h{back}", rate, start, 3600)
        writer.write(batch, name=f"h{back}")
        _write_outcomes(rng, batch, f"h{back}")
    start = END - timedelta(hours=1)
    flushes = int(3600 / flush)
    per_flush = rate // flushes
    for index in range(flushes):
        at = start + timedelta(seconds=index * flush)
        batch = _batch(rng, f"last-{index}", per_flush, at, flush)
        writer.write(batch)
        _write_outcomes(rng, batch, f"last-{index}")


def child(task: str) -> dict[str, float]:
    """TASK on the history in MLOPS_DATA_DIR, timed, with what it read."""
    started = time.perf_counter()
    figures: dict[str, float] = {}
    if task == "monitoring":
        from monitoring_pipeline.served import (
            Window,
            known_request_ids,
            served_rows,
            window_outcomes,
        )
        from prediction_log import schema as log
        from prediction_log.outcomes import join_outcomes

        started = time.perf_counter()  # the imports are the same for any history
        window = Window.ending_at(END, 60)
        served = served_rows(window, list(FEATURES))
        outcomes = window_outcomes(window, GRACE_SECONDS)
        known = known_request_ids(window, GRACE_SECONDS)
        chosen = served.loc[
            served[log.CHOSEN].astype(bool), [log.REQUEST_ID, log.DRIVER_ID, log.SCORE]
        ]
        joined = join_outcomes(window.start, window.end, chosen, outcomes, known, GRACE_SECONDS)
        figures = {
            "served_rows": len(served),
            "outcomes_read": len(outcomes),
            "known_ids": len(known),
            "joined": joined.counts.joined,
        }
    elif task == "labels":
        from data_pipeline.labels import collect_labels

        started = time.perf_counter()
        report = collect_labels("bench", END)
        figures = {"written": report.written, "joined": report.counts.joined}
    elif task == "compaction":
        from mlops_common.compaction import compact_partition
        from mlops_common.partitions import partition_path
        from mlops_common.paths import feature_log_dir, outcomes_dir, scores_log_dir

        started = time.perf_counter()
        last = END - timedelta(hours=1)
        for folder, column in (
            (feature_log_dir(), "__log_timestamp"),
            (scores_log_dir(), "log_timestamp"),
            (outcomes_dir(), "outcome_timestamp"),
        ):
            done = compact_partition(partition_path(folder, last), column)
            if done is not None:
                figures["files_before"] = figures.get("files_before", 0) + done.files_before
                figures["rows"] = figures.get("rows", 0) + done.rows
    else:
        raise SystemExit(f"unknown task {task}")
    figures["seconds"] = time.perf_counter() - started
    figures["peak_rss_mib"] = _peak_rss_mib()
    return figures


def run_child(data_dir: Path, task: str) -> dict[str, float]:
    env = {**os.environ, "MLOPS_DATA_DIR": str(data_dir), "LABELS_WINDOW_HOURS": "1"}
    done = subprocess.run(
        [sys.executable, __file__, "--child", task],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"{task} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=int, default=36_000, help="Requests an hour.")
    parser.add_argument("--flush", type=float, default=5.0, help="Seconds between small files.")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(args.child)))
        return

    tmp = Path(tempfile.mkdtemp(prefix="bench-monitoring-"))
    results: dict[str, dict[str, dict[str, float]]] = {}
    try:
        for label, hours in HISTORIES.items():
            data_dir = tmp / f"data-{hours}"
            env = {
                **os.environ,
                "MLOPS_DATA_DIR": str(data_dir),
                "FEAST_REGISTRY_PATH": str(data_dir / "feast" / "registry.db"),
            }
            os.environ.update(env)
            from mlops_common.settings import reset_settings_cache

            reset_settings_cache()
            started = time.perf_counter()
            build_history(data_dir, hours, args.rate, args.flush)
            print(
                f"{label}: history of {hours * args.rate:,} requests built in "
                f"{time.perf_counter() - started:.0f} s",
                flush=True,
            )
            results[label] = {
                task: run_child(data_dir, task) for task in ("monitoring", "labels", "compaction")
            }
            shutil.rmtree(data_dir, ignore_errors=True)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)

    base = results["1 h"]
    print(f"\n{args.rate:,} requests/hour, {CANDIDATES} candidates each; the last hour's run")
    print(
        f"{'history':<8} {'task':<11} {'time (s)':>9} {'x 1 h':>6} {'peak RSS (MiB)':>15} "
        f"{'x 1 h':>6}  read"
    )
    for label, tasks in results.items():
        for task, figures in tasks.items():
            detail = ", ".join(
                f"{k} {int(v):,}"
                for k, v in figures.items()
                if k not in ("seconds", "peak_rss_mib")
            )
            print(
                f"{label:<8} {task:<11} {figures['seconds']:9.2f} "
                f"{figures['seconds'] / base[task]['seconds']:6.2f} "
                f"{figures['peak_rss_mib']:15.0f} "
                f"{figures['peak_rss_mib'] / base[task]['peak_rss_mib']:6.2f}  {detail}"
            )
    week, hour = results["7 days"]["monitoring"], base["monitoring"]
    time_ratio = week["seconds"] / hour["seconds"]
    rss_ratio = week["peak_rss_mib"] / hour["peak_rss_mib"]
    compaction = max(r["compaction"]["seconds"] for r in results.values())
    print(
        f"\nmonitoring, 7 days vs 1 h: time x{time_ratio:.2f}, peak RSS x{rss_ratio:.2f} "
        f"(goal <= 1.5); compaction of one hour at most {compaction:.1f} s (goal < 60)"
    )


if __name__ == "__main__":
    main()
