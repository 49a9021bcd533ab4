"""Bring the local platform up and down: ports checked first, health waited for, data kept."""

from __future__ import annotations

import logging
import os
import subprocess
import time
from pathlib import Path

import psutil
import typer
from mlops_common.errors import UserError
from mlops_common.settings import get_mlflow_settings

from mlops_platform.airflow_env import airflow_bin, airflow_environment, airflow_home
from mlops_platform.processes import port_free, prometheus_binary, redis_server_binary, wait_for
from mlops_platform.prometheus import prometheus_dir, write_prometheus_config
from mlops_platform.services import ONLINE_SERVICE, Service, is_healthy, service, services
from mlops_platform.state import log_file, log_tail, logs_dir, state_dir
from mlops_platform.status import status
from mlops_platform.supervisor import (
    pid_file,
    process_states,
    rpc,
    start_program,
    start_supervisord,
    supervisor_running,
)

logger = logging.getLogger(__name__)

FAILED_STATES = {"FATAL", "EXITED", "BACKOFF"}


def platform_environment() -> dict[str, str]:
    """The environment supervisord and so every service inherits."""
    return {
        **os.environ,
        **airflow_environment(),
        "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false",
        "MLFLOW_TRACKING_URI": get_mlflow_settings().resolved_tracking_uri,
    }


def _check_prerequisites() -> None:
    redis_server_binary()
    for binary in ("prometheus", "prometheus-pushgateway"):
        prometheus_binary(binary)
    if not Path(airflow_bin()).exists():
        raise UserError(f"Airflow is not installed at {airflow_bin()}; run `make setup`.")


def _check_ports(programs: list[Service]) -> None:
    for program in programs:
        if program.port is not None and not port_free("127.0.0.1", program.port):
            raise UserError(
                f"port {program.port} for {program.name} is in use; set {program.port_key} in .env"
            )


def _migrate_airflow(env: dict[str, str]) -> None:
    """Create or upgrade Airflow's metadata database (idempotent)."""
    log = log_file("airflow-db-migrate")
    with log.open("w") as out:
        result = subprocess.run(
            [airflow_bin(), "db", "migrate"],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            check=False,
        )
    if result.returncode != 0:
        logger.error("airflow db migrate, last lines of %s:\n%s", log, log_tail(log.stem))
        raise UserError(f"airflow db migrate failed (exit {result.returncode}); log {log}")


def _wait_healthy(programs: list[Service]) -> None:
    for program in programs:

        def healthy(program: Service = program) -> bool:
            state = process_states().get(program.name, {}).get("statename")
            if state in FAILED_STATES:
                logger.error("%s: last lines of its log:\n%s", program.name, log_tail(program.name))
                raise UserError(
                    f"{program.name} failed to start ({state}); log {log_file(program.name)}"
                )
            return is_healthy(program)

        def timed_out(program: Service = program) -> Exception:
            logger.error("%s: last lines of its log:\n%s", program.name, log_tail(program.name))
            return UserError(
                f"{program.name} did not become healthy within {program.start_timeout:.0f} s;"
                f" log {log_file(program.name)}"
            )

        wait_for(healthy, timeout=program.start_timeout, interval=0.5, timeout_error=timed_out)
        typer.echo(f"  {program.name:<22} healthy")


def up() -> None:
    """Start every service that is not running and wait until all answer their health check."""
    _check_prerequisites()
    programs = [p for p in services() if p.autostart]
    states = process_states()
    to_start = [p for p in programs if states.get(p.name, {}).get("statename") != "RUNNING"]
    _check_ports(to_start)
    if not to_start:
        typer.echo("platform already running")
        _wait_healthy(programs)
        return
    directories = (logs_dir(), state_dir() / "redis", state_dir() / "mlflow", airflow_home())
    for directory in (*directories, state_dir() / "pushgateway", prometheus_dir() / "data"):
        directory.mkdir(parents=True, exist_ok=True)
    online = service(ONLINE_SERVICE)
    write_prometheus_config(online.url.removeprefix("http://"))
    env = platform_environment()
    started = time.monotonic()
    if any(p.name.startswith("airflow") for p in to_start):
        typer.echo("migrating the Airflow database ...")
        _migrate_airflow(env)
    if states:  # supervisord runs; some programs stopped or crashed
        for program in to_start:
            start_program(program.name)
    else:
        start_supervisord(services(), env)
    typer.echo("waiting for health checks ...")
    _wait_healthy(programs)
    typer.echo(f"platform up in {time.monotonic() - started:.1f} s")
    status(exit_on_unhealthy=False)


def _pid_alive(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def down() -> None:
    """Stop everything `up` started (supervisord and its process groups); data stays."""
    if not supervisor_running():
        typer.echo("platform is not running; nothing to stop")
        return
    pid = int(pid_file().read_text()) if pid_file().exists() else None
    rpc().supervisor.shutdown()
    if pid is not None:
        wait_for(
            lambda: not _pid_alive(pid),
            timeout=90,
            interval=0.3,
            timeout_error=lambda: UserError(
                f"supervisord (pid {pid}) did not stop in 90 s; see {logs_dir()}"
            ),
        )
    typer.echo(f"platform stopped; data kept in {state_dir()}")


def start_online_service() -> str:
    """Start the online service under the supervisor (the platform must be up); its URL."""
    program = service(ONLINE_SERVICE)
    states = process_states()
    if not states:
        raise UserError("the platform is not running; start it with `make up`")
    if states.get(program.name, {}).get("statename") != "RUNNING":
        _check_ports([program])
        start_program(program.name)
    _wait_healthy([program])
    return program.url
