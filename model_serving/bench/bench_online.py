"""Online serving bench: our service vs the course-style baseline and two empty endpoints.

Starts everything it needs on free loopback ports under a temporary directory and stops it
at the end: a redis-server, an MLflow tracking server, N drivers' features materialized into
Redis, a tiny champion registered in MLflow, then each service with `bentoml serve`
(`SERVING_WORKERS`, default 1). Two empty BentoML endpoints give the framework's ceiling at
that moment (the machine is shared, so absolute figures move with its load): `empty` with
BentoML's default configuration and `lean` with the online service's own. Load comes from
`wrk` (apt: `apt-get install -y wrk`): every request asks for K random distinct ids among the
N drivers; ours is measured once its prediction log has written. Prints req/s and
p50/p90/p99 per connection count with the load average, ours as a share of each reference,
and writes the same as JSON.

    .venv/bin/python model_serving/bench/bench_online.py [--drivers 10000] [--duration 10]
    .venv/bin/python model_serving/bench/bench_online.py --soak 600   # ours only, c=16

`--services lean,lean_sync` compares the lean empty endpoint as an async and as a sync method
(BentoML runs sync methods in its thread pool): the measurement behind the async handler.
`--services ours,ours_challenger` compares our service without and with a challenger in shadow
(scored for every request into the prediction log), same sitting.
`--soak SECONDS` drives each listed service (default ours alone; with `--alternate` all started
at once and taking one-minute turns, so the machine's drift over the sitting falls on each
alike) at 16 connections in one-minute wrk runs and reports errors, the service processes' RSS
at start and end, p99 and req/s per minute, the last five minutes' throughput against the
first five, and, per minute, the files under the data folder (the prediction log) and
BentoML's prometheus multiprocess folder: bounded folders or not.

    .venv/bin/python model_serving/bench/bench_online.py --soak 1800 --services ours_challenger
    .venv/bin/python model_serving/bench/bench_online.py --soak 900 --alternate \
        --services ours_challenger,lean
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
from mlops_platform import processes as proc

HERE = Path(__file__).resolve().parent
BIN = Path(sys.executable).parent
SERVICES = {
    "ours": "online_service.service:DriverRanking",
    "ours_challenger": "online_service.service:DriverRanking",  # + a challenger in shadow
    "baseline": "baseline_service:Baseline",
    "empty": "empty_service:Empty",  # BentoML's defaults: the framework as shipped
    "lean": "empty_service:EmptyLean",  # the framework's ceiling with our configuration
    "lean_sync": "empty_service:EmptyLeanSync",  # the same, sync: the thread hop's cost
}
REFERENCES = ("lean", "empty", "baseline")
# ours_challenger follows its own registered model, which has a `challenger` beside its
# `champion`: the same service scoring every answered request with both (SERVING_SHADOW_SHARE=1).
SHADOW_MODEL_SUFFIX = "_shadow"
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


free_port = proc.free_port


def wait_for(
    check: Callable[[], object], what: str, timeout: float, log: Path | None = None
) -> None:
    """Until CHECK is truthy (its exceptions count as "not yet"), through the platform's wait."""

    def not_ready() -> SystemExit:
        tail = log.read_text()[-3000:] if log and log.exists() else ""
        return SystemExit(f"{what} not ready within {timeout:.0f} s\n{tail}")

    proc.wait_for(
        lambda: bool(check()), timeout=timeout, interval=0.3, timeout_error=not_ready,
        ignore=(Exception,),
    )  # fmt: skip


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


def bench_env(tmp: Path, redis_port: int, mlflow_port: int) -> dict[str, str]:
    """The environment of a bench's services and processes: every path under TMP, its own
    Redis and MLflow, no access log, no pushes to a platform's pushgateway."""
    return {
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
        "PROMETHEUS_PUSH_ENABLED": "false",
        "BENTOML_HOME": str(tmp / "bentoml"),
    }


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
    requests: int
    load_average: tuple[float, float, float]


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
    load = os.getloadavg()  # the minute that the run just spent, as `uptime` shows it
    percentiles = dict(re.findall(r"^\s+(50|90|99)%\s+(\S+)$", out, re.MULTILINE))
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    non_2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    errors = re.search(r"Socket errors:.*", out)
    total = re.search(r"(\d+) requests in", out)
    return WrkResult(
        rps,
        _ms(percentiles["50"]),
        _ms(percentiles["90"]),
        _ms(percentiles["99"]),
        int(non_2xx.group(1)) if non_2xx else 0,
        errors.group(0) if errors else "",
        int(total.group(1)) if total else 0,
        (round(load[0], 2), round(load[1], 2), round(load[2], 2)),
    )


def socket_errors(result: WrkResult) -> int:
    """Connect, read, write and timeout errors of one wrk run."""
    return sum(int(n) for n in re.findall(r"\d+", result.errors))


def metric_sum(url: str, name: str, **labels: str) -> int:
    """The sum of the service's samples NAME with LABELS on its /metrics."""
    from prometheus_client.parser import text_string_to_metric_families

    total = 0.0
    for family in text_string_to_metric_families(httpx.get(f"{url}/metrics", timeout=10).text):
        for sample in family.samples:
            if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items()):
                total += sample.value
    return int(total)


def wait_for_log_write(url: str, log: Path) -> None:
    """Until the service's prediction log has written (its thread opened the Feast store, an
    import of seconds, then flushed the warm-up's requests): measuring before would leave out
    the log's cost."""
    wait_for(
        lambda: metric_sum(url, "driver_ranking_prediction_log_requests_total") > 0,
        "the prediction log's first write",
        120,
        log,
    )


def wait_for_challenger(url: str, log: Path) -> None:
    """Until the service has scored requests with its challenger (its shadow scorer logged)."""
    wait_for(
        lambda: metric_sum(url, "driver_ranking_shadow_requests_total", outcome="scored") > 0,
        "the challenger's first shadow scores",
        120,
        log,
    )


def tree_rss_kib(root_pid: int) -> dict[int, int]:
    """RSS (KiB) of ROOT_PID and every descendant, by pid (`bentoml serve` forks its workers)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            children.setdefault(int(fields[1]), []).append(int(entry.name))
    rss: dict[int, int] = {}
    pending = [root_pid]
    while pending:
        pid = pending.pop()
        try:
            status = (Path("/proc") / str(pid) / "status").read_text()
        except OSError:
            continue
        found = re.search(r"^VmRSS:\s+(\d+) kB", status, re.MULTILINE)
        rss[pid] = int(found.group(1)) if found else 0
        pending.extend(children.get(pid, []))
    return rss


def print_result(name: str, connections: int, result: WrkResult) -> None:
    print(
        f"{name:9s} c={connections:<3d} {result.rps:8.0f} req/s  "
        f"p50 {result.p50_ms:7.2f} ms  p90 {result.p90_ms:7.2f} ms  "
        f"p99 {result.p99_ms:7.2f} ms  non-2xx {result.non_2xx} "
        f"load {result.load_average[0]:.2f} {result.errors}",
        flush=True,
    )


def count_files(folder: Path) -> int:
    """Files under FOLDER, at any depth (0 when it does not exist)."""
    return sum(len(files) for _, _, files in os.walk(folder))


class Soak:
    """One service soaked at 16 connections in one-minute wrk runs; after each minute the
    service's RSS and the number of files under each of FOLDERS."""

    def __init__(self, name: str, url: str, pid: int, folders: dict[str, Path]) -> None:
        self.name, self.url, self.pid, self.folders = name, url, pid, folders
        self.rss_start = tree_rss_kib(pid)
        self.minutes: list[WrkResult] = []
        self.rss_mib: list[float] = []
        self.files: dict[str, list[int]] = {folder: [] for folder in folders}

    def minute(self, script: Path, seconds: int) -> None:
        result = run_wrk(self.url, script, 16, seconds)
        self.minutes.append(result)
        self.rss_mib.append(round(sum(tree_rss_kib(self.pid).values()) / 1024, 1))
        for name, folder in self.folders.items():
            self.files[name].append(count_files(folder))
        counts = " ".join(f"{name} {found[-1]}" for name, found in self.files.items())
        print_result(f"{self.name} {len(self.minutes):>3d}", 16, result)
        print(f"          RSS {self.rss_mib[-1]:.0f} MiB  files: {counts}", flush=True)

    def summary(self, seconds: int) -> dict[str, object]:
        minutes, files = self.minutes, self.files
        rss_end = tree_rss_kib(self.pid)
        start_total, end_total = sum(self.rss_start.values()), sum(rss_end.values())
        first_p99 = minutes[0].p99_ms
        edge = min(5, max(1, len(minutes) // 2))
        first_rps = sum(m.rps for m in minutes[:edge]) / edge
        last_rps = sum(m.rps for m in minutes[-edge:]) / edge
        summary = {
            "seconds": seconds,
            "requests": sum(m.requests for m in minutes),
            "errors": sum(m.non_2xx + socket_errors(m) for m in minutes),
            "rss_kib_start": self.rss_start,
            "rss_kib_end": rss_end,
            "rss_growth": (end_total - start_total) / start_total,
            "rss_mib_per_minute": self.rss_mib,
            "rps_per_minute": [round(m.rps) for m in minutes],
            f"rps_first_{edge}_minutes": round(first_rps),
            f"rps_last_{edge}_minutes": round(last_rps),
            "rps_last_over_first": last_rps / first_rps,
            "p99_ms_per_minute": [m.p99_ms for m in minutes],
            "worst_p99_over_first": max(m.p99_ms for m in minutes) / first_p99,
            "files_per_minute": files,
            "minutes": [asdict(m) for m in minutes],
        }
        print(
            f"soak {self.name}: {summary['requests']} requests, {summary['errors']} errors, RSS "
            f"{start_total / 1024:.0f} -> {end_total / 1024:.0f} MiB "
            f"({summary['rss_growth']:+.1%}), req/s first {edge} min {first_rps:.0f} -> last "
            f"{edge} min {last_rps:.0f} (x{last_rps / first_rps:.3f}), p99 per minute "
            f"{', '.join(f'{p:.1f}' for p in summary['p99_ms_per_minute'])} ms "
            f"(worst {summary['worst_p99_over_first']:.2f}x the first); files per minute "
            + "; ".join(f"{name} {min(found)}-{max(found)}" for name, found in files.items()),
            flush=True,
        )
        return summary


def soak(soaks: list[Soak], script: Path, seconds: int) -> dict[str, object]:
    """Each of SOAKS for SECONDS in one-minute runs, taking turns minute by minute (with one
    service: that service alone), so the machine's drift over the sitting falls on all alike."""
    remaining = seconds
    while remaining > 0:
        chunk = min(60, remaining)
        for one in soaks:
            one.minute(script, chunk)
        remaining -= chunk
    return {one.name: one.summary(seconds) for one in soaks}


def load_arguments(parser: argparse.ArgumentParser) -> None:
    """The load options every online bench takes (this one and bench_online_cluster)."""
    parser.add_argument("--drivers", type=int, default=10_000)
    parser.add_argument("--ids-per-request", type=int, default=5)
    parser.add_argument("--duration", type=int, default=10, help="Seconds per wrk run.")
    parser.add_argument("--connections", default="1,16")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    load_arguments(parser)
    parser.add_argument(
        "--services",
        default=None,
        help="Comma-separated, among " + ", ".join(SERVICES) + " (default "
        "ours,lean,empty,baseline; with --soak: ours).",
    )
    parser.add_argument(
        "--model",
        choices=("logistic", "regression"),
        default="logistic",
        help="The champion: the training pipeline's logistic regression (probabilities, one "
        "sigmoid per request) or a linear regression (the model before the classifier).",
    )
    parser.add_argument(
        "--soak",
        type=int,
        default=0,
        metavar="SECONDS",
        help="Soak each listed service at c=16 for SECONDS (default: ours alone).",
    )
    parser.add_argument(
        "--alternate",
        action="store_true",
        help="With --soak: start every listed service at once and give them one-minute runs "
        "in turn (the machine's drift falls on all alike); otherwise one after the other.",
    )
    parser.add_argument(
        "--json",
        type=Path,
        default=None,
        help="Where to write the results (default bench/results/online-<UTC time>.json).",
    )
    args = parser.parse_args()
    if args.services is None:
        args.services = "ours" if args.soak else "ours,lean,empty,baseline"
    unknown = sorted(set(args.services.split(",")) - set(SERVICES))
    if unknown:
        parser.error(f"unknown service(s) {', '.join(unknown)}: choose among {', '.join(SERVICES)}")
    started_at = datetime.now(UTC)
    json_path = args.json or HERE / "results" / f"online-{started_at:%Y%m%dT%H%M%SZ}.json"
    if not shutil.which("wrk"):
        raise SystemExit("wrk is not installed: apt-get install -y wrk")
    first_id = 1001
    tmp = Path(tempfile.mkdtemp(prefix="bench-online-"))
    redis_port, mlflow_port = free_port(), free_port()
    env = bench_env(tmp, redis_port, mlflow_port)
    os.environ.update(env)
    results: dict[tuple[str, int], WrkResult] = {}
    soak_summary: dict[str, object] = {}
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

            champion = register_tiny_champion(
                env["MLFLOW_TRACKING_URI"],
                env["MLFLOW_MODEL_NAME"],
                classifier=args.model == "logistic",
            )
            print(f"registered {champion.name} v{champion.version} ({args.model})", flush=True)
            if "ours_challenger" in args.services.split(","):
                shadowed = env["MLFLOW_MODEL_NAME"] + SHADOW_MODEL_SUFFIX
                classifier = args.model == "logistic"
                register_tiny_champion(env["MLFLOW_TRACKING_URI"], shadowed, classifier=classifier)
                challenger = register_tiny_champion(
                    env["MLFLOW_TRACKING_URI"],
                    shadowed,
                    alias="challenger",
                    seed=1,
                    classifier=classifier,
                )
                print(f"registered {shadowed}: champion v1, challenger v{challenger.version}")
            script = tmp / "bench.lua"
            script.write_text(
                WRK_SCRIPT
                % {"seed": 42, "n": args.drivers, "k": args.ids_per_request, "first": first_id}
            )

            @contextmanager
            def serving(name: str) -> Iterator[Soak]:
                """NAME served on a free port until the block ends, warmed up (ours: its
                prediction log writing, its challenger scoring); a Soak of it, not started."""
                port = free_port()
                log = tmp / f"serve-{name}.log"
                # Its own BentoML home: services alive together keep apart prometheus folders.
                service_env = {**env, "BENTOML_HOME": str(tmp / f"bentoml-{name}")}
                if name == "ours_challenger":
                    service_env |= {
                        "MLFLOW_MODEL_NAME": env["MLFLOW_MODEL_NAME"] + SHADOW_MODEL_SUFFIX,
                        "SERVING_SHADOW_SHARE": "1",
                        "MLOPS_DATA_DIR": str(tmp / "data-challenger"),
                    }
                    shutil.copytree(tmp / "data", tmp / "data-challenger", dirs_exist_ok=True)
                command = [str(BIN / "bentoml"), "serve", SERVICES[name]]
                command += ["--host", "127.0.0.1", "--port", str(port)]
                with process(command, log, service_env, cwd=HERE) as server:
                    url = f"http://127.0.0.1:{port}"
                    wait_for(
                        lambda: httpx.get(f"{url}/readyz").status_code == 200,
                        f"{name} service",
                        180,
                        log,
                    )
                    run_wrk(url, script, 4, 3)  # warm-up
                    ours = name.startswith("ours")
                    if ours and env.get("PREDICTION_LOG_ENABLED", "true") != "false":
                        wait_for_log_write(url, log)  # steady state: the log writing
                    if name == "ours_challenger":
                        wait_for_challenger(url, log)
                    folders = {
                        "data": Path(service_env["MLOPS_DATA_DIR"]),
                        "prometheus": Path(service_env["BENTOML_HOME"])
                        / "prometheus_multiproc_dir",
                    }
                    yield Soak(name, url, server.pid, folders)

            names = args.services.split(",")
            if args.soak and args.alternate:
                with ExitStack() as stack:
                    soaks = [stack.enter_context(serving(name)) for name in names]
                    soak_summary = soak(soaks, script, args.soak)
            for name in names if not (args.soak and args.alternate) else ():
                with serving(name) as served:
                    if args.soak:
                        soak_summary |= soak([served], script, args.soak)
                        continue
                    for connections in (int(c) for c in args.connections.split(",")):
                        result = run_wrk(served.url, script, connections, args.duration)
                        results[(name, connections)] = result
                        print_result(name, connections, result)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print("\nservice   conns    req/s   p50 ms   p90 ms   p99 ms  load")
    for (name, connections), r in results.items():
        print(
            f"{name:9s} {connections:5d} {r.rps:8.0f} {r.p50_ms:8.2f} {r.p90_ms:8.2f} "
            f"{r.p99_ms:8.2f}  {r.load_average[0]:.2f}"
        )
    shares: dict[str, dict[str, float]] = {}
    for connections in (int(c) for c in args.connections.split(",")):
        ours = results.get(("ours", connections))
        with_challenger = results.get(("ours_challenger", connections))
        if ours and with_challenger:
            share = with_challenger.rps / ours.rps
            p99 = with_challenger.p99_ms / ours.p99_ms
            shares.setdefault(f"c={connections}", {})["ours_challenger/ours"] = round(share, 3)
            print(
                f"c={connections}: with a challenger / without: throughput {share:.0%} "
                f"(x{share:.2f}), p99 {with_challenger.p99_ms:.2f} vs {ours.p99_ms:.2f} ms "
                f"(x{p99:.2f})"
            )
        for reference in REFERENCES:
            other = results.get((reference, connections))
            if ours and other:
                share = ours.rps / other.rps
                shares.setdefault(f"c={connections}", {})[f"ours/{reference}"] = round(share, 3)
                print(
                    f"c={connections}: ours / {reference}: throughput {share:.0%} "
                    f"(x{share:.2f}), p50 {ours.p50_ms:.2f} vs {other.p50_ms:.2f} ms, "
                    f"p99 {ours.p99_ms:.2f} vs {other.p99_ms:.2f} ms"
                )
    report = {
        "started_at": started_at.isoformat(),
        "finished_at": datetime.now(UTC).isoformat(),
        "cpus": os.cpu_count(),
        "workers": int(os.environ.get("SERVING_WORKERS", "1")),
        "drivers": args.drivers,
        "ids_per_request": args.ids_per_request,
        "duration_seconds": args.duration,
        "results": [
            {"service": name, "connections": connections, **asdict(r)}
            for (name, connections), r in results.items()
        ],
        "throughput_shares": shares,
        "soak": soak_summary or None,
    }
    json_path.parent.mkdir(parents=True, exist_ok=True)
    partial = json_path.with_suffix(".json.tmp")
    partial.write_text(json.dumps(report, indent=2))
    partial.replace(json_path)  # atomic: a reader never sees half a file
    print(f"results: {json_path}")


if __name__ == "__main__":
    main()
