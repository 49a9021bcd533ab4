"""The local platform: Redis, an MLflow tracking server and Airflow 3 as supervised processes.

`mlops-platform up|down|status` (behind `make up|down|status`). supervisord owns the processes
(start, stop by process group, restart bookkeeping, log files); this module writes its
configuration from settings, checks ports before starting, waits for every service's health
check and reports. Everything lives under `MLOPS_STATE_DIR`; `down` leaves the data in place.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import xmlrpc.client
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import typer

from mlops_common.airflow_env import airflow_environment, airflow_home
from mlops_common.errors import UserError, cli_app
from mlops_common.logs import configure_logging
from mlops_common.settings import (
    get_airflow_settings,
    get_mlflow_settings,
    get_path_settings,
    get_redis_settings,
    project_root,
)

app = cli_app("Run the local platform: Redis, MLflow and Airflow.", no_args_is_help=True)

AIRFLOW_BIN = Path(".venv-airflow") / "bin" / "airflow"


@dataclass(frozen=True)
class Service:
    """One supervised program and how to tell that it is up."""

    name: str
    command: list[str]
    health: Callable[[], bool]
    url: str
    port: int | None = None
    port_key: str | None = None
    start_timeout: float = 60
    stop_seconds: int = 20
    # Started by `up` (True) or on demand, e.g. the online service once a champion exists.
    autostart: bool = True


def _state() -> Path:
    return get_path_settings().state_dir


def _logs() -> Path:
    return _state() / "logs"


def log_file(service: str) -> Path:
    return _logs() / f"{service}.log"


def _airflow_bin() -> str:
    return str(project_root() / AIRFLOW_BIN)


def _airflow_health() -> dict[str, Any]:
    response = httpx.get(f"{get_airflow_settings().url}/api/v2/monitor/health", timeout=3)
    response.raise_for_status()
    return dict(response.json())


def _airflow_component_healthy(component: str) -> bool:
    status = _airflow_health().get(component) or {}
    return bool(status.get("status") == "healthy")


def _redis_healthy() -> bool:
    import redis

    settings = get_redis_settings()
    password = settings.password.get_secret_value() if settings.password else None
    client = redis.Redis(
        host=settings.host, port=settings.port, password=password, socket_timeout=2
    )
    try:
        return bool(client.ping())
    finally:
        client.close()


def _mlflow_healthy() -> bool:
    return httpx.get(f"{get_mlflow_settings().resolved_tracking_uri}/health", timeout=3).is_success


def services() -> list[Service]:
    """The platform's programs, in start order, built from settings."""
    state = _state()
    redis_settings = get_redis_settings()
    mlflow = get_mlflow_settings()
    airflow = get_airflow_settings()
    redis_command = [
        shutil.which("redis-server") or "redis-server",
        "--port",
        str(redis_settings.port),
        "--bind",
        redis_settings.host,
        "--dir",
        str(state / "redis"),
        # Snapshot on shutdown and every 5 minutes when something changed: `down` keeps data.
        "--save",
        "300 1",
        "--appendonly",
        "no",
    ]
    if redis_settings.password is not None:
        redis_command += ["--requirepass", redis_settings.password.get_secret_value()]
    mlflow_dir = state / "mlflow"
    return [
        Service(
            name="redis",
            command=redis_command,
            health=_redis_healthy,
            url=f"redis://{redis_settings.host}:{redis_settings.port}",
            port=redis_settings.port,
            port_key="REDIS_PORT",
            start_timeout=20,
        ),
        Service(
            name="mlflow",
            command=[
                str(Path(sys.executable).parent / "mlflow"),
                "server",
                "--backend-store-uri",
                f"sqlite:///{mlflow_dir / 'mlflow.db'}",
                "--artifacts-destination",
                str(mlflow_dir / "artifacts"),
                "--host",
                mlflow.host,
                "--port",
                str(mlflow.port),
                "--workers",
                "1",
            ],
            health=_mlflow_healthy,
            url=f"http://{mlflow.host}:{mlflow.port}",
            port=mlflow.port,
            port_key="MLFLOW_PORT",
            start_timeout=120,
        ),
        Service(
            name="airflow-api-server",
            command=[_airflow_bin(), "api-server"],
            health=lambda: _airflow_component_healthy("metadatabase"),
            url=airflow.url,
            port=airflow.port,
            port_key="AIRFLOW_PORT",
            start_timeout=180,
        ),
        Service(
            name="airflow-scheduler",
            command=[_airflow_bin(), "scheduler"],
            health=lambda: _airflow_component_healthy("scheduler"),
            url=f"{airflow.url} (scheduler)",
            start_timeout=180,
            stop_seconds=40,
        ),
        Service(
            name="airflow-dag-processor",
            command=[_airflow_bin(), "dag-processor"],
            health=lambda: _airflow_component_healthy("dag_processor"),
            url=f"{airflow.url} (dag processor)",
            start_timeout=180,
        ),
        Service(
            name="online-service",
            command=[str(Path(sys.executable).parent / "model-serving"), "serve"],
            health=_online_service_ready,
            url=_online_service_url(),
            port=_online_service_port(),
            port_key="SERVING_PORT",
            start_timeout=120,
            autostart=False,
        ),
    ]


def _online_settings() -> tuple[str, int]:
    # The serving package owns these settings; read them by their documented keys so that the
    # shared library does not import the serving package.
    from pydantic_settings import BaseSettings, SettingsConfigDict

    class _Serving(BaseSettings):
        model_config = SettingsConfigDict(
            env_prefix="SERVING_", env_file=project_root() / ".env", extra="ignore"
        )
        host: str = "127.0.0.1"
        port: int = 3000

    serving = _Serving()
    return serving.host, serving.port


def _online_service_url() -> str:
    host, port = _online_settings()
    return f"http://{host}:{port}"


def _online_service_port() -> int:
    return _online_settings()[1]


def _online_service_ready() -> bool:
    return httpx.get(f"{_online_service_url()}/readyz", timeout=3).is_success


# --- supervisord -----------------------------------------------------------------------------


def _socket_path() -> Path:
    return _state() / "supervisor.sock"


def supervisord_config(programs: list[Service]) -> str:
    """supervisord's configuration for PROGRAMS, logs and socket under the state directory."""
    state = _state()
    lines = [
        "[unix_http_server]",
        f"file={_socket_path()}",
        "chmod=0700",
        "",
        "[supervisord]",
        f"logfile={_logs() / 'supervisord.log'}",
        f"pidfile={state / 'supervisord.pid'}",
        f"directory={project_root()}",
        "logfile_maxbytes=5MB",
        "",
        "[rpcinterface:supervisor]",
        "supervisor.rpcinterface_factory = supervisor.rpcinterface:make_main_rpcinterface",
        "",
        "[supervisorctl]",
        f"serverurl=unix://{_socket_path()}",
        "",
    ]
    for program in programs:
        command = " ".join(_supervisor_quote(part) for part in program.command)
        lines += [
            f"[program:{program.name}]",
            f"command={command}",
            f"autostart={'true' if program.autostart else 'false'}",
            "autorestart=unexpected",
            "startsecs=3",
            "startretries=1",
            "stopasgroup=true",
            "killasgroup=true",
            f"stopwaitsecs={program.stop_seconds}",
            "redirect_stderr=true",
            f"stdout_logfile={log_file(program.name)}",
            "stdout_logfile_maxbytes=20MB",
            "stdout_logfile_backups=2",
            "",
        ]
    return "\n".join(lines)


def _supervisor_quote(part: str) -> str:
    escaped = part.replace("%", "%%")
    return f'"{escaped}"' if any(c.isspace() for c in escaped) else escaped


def _rpc() -> Any:
    from supervisor.xmlrpc import SupervisorTransport

    transport = SupervisorTransport(None, None, serverurl=f"unix://{_socket_path()}")
    return xmlrpc.client.ServerProxy("http://127.0.0.1", transport=transport)


def _supervisor_running() -> bool:
    if not _socket_path().exists():
        return False
    try:
        return bool(_rpc().supervisor.getState()["statename"] == "RUNNING")
    except (OSError, xmlrpc.client.Fault):
        return False


def _process_states() -> dict[str, dict[str, Any]]:
    if not _supervisor_running():
        return {}
    return {info["name"]: info for info in _rpc().supervisor.getAllProcessInfo()}


def _port_free(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def _log_tail(service: str, lines: int = 20) -> str:
    path = log_file(service)
    if not path.exists():
        return f"(no log at {path})"
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])


def _check_prerequisites() -> None:
    if shutil.which("redis-server") is None:
        raise UserError("redis-server is not installed; run `make setup` (or install Redis 7).")
    if not Path(_airflow_bin()).exists():
        raise UserError(f"Airflow is not installed at {_airflow_bin()}; run `make setup`.")


def _migrate_airflow(env: dict[str, str]) -> None:
    """Create or upgrade Airflow's metadata database (idempotent)."""
    log = log_file("airflow-db-migrate")
    with log.open("w") as out:
        result = subprocess.run(
            [_airflow_bin(), "db", "migrate"],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            check=False,
        )
    if result.returncode != 0:
        raise UserError(
            f"airflow db migrate failed (exit {result.returncode}); log {log}:\n"
            + _log_tail("airflow-db-migrate")
        )


def _wait_healthy(programs: list[Service]) -> None:
    for program in programs:
        deadline = time.monotonic() + program.start_timeout
        while True:
            info = _process_states().get(program.name, {})
            if info.get("statename") in {"FATAL", "EXITED", "BACKOFF"}:
                raise UserError(
                    f"{program.name} failed to start ({info.get('statename')}); "
                    f"log {log_file(program.name)}:\n{_log_tail(program.name)}"
                )
            try:
                if program.health():
                    typer.echo(f"  {program.name:<22} healthy")
                    break
            except Exception:
                pass
            if time.monotonic() > deadline:
                raise UserError(
                    f"{program.name} did not become healthy within {program.start_timeout:.0f} s;"
                    f" log {log_file(program.name)}:\n{_log_tail(program.name)}"
                )
            time.sleep(0.5)


def platform_environment() -> dict[str, str]:
    """The environment supervisord and so every service inherits."""
    return {
        **os.environ,
        **airflow_environment(),
        "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false",
        "MLFLOW_TRACKING_URI": get_mlflow_settings().resolved_tracking_uri,
    }


def up() -> None:
    """Start every service that is not running and wait until all answer their health check."""
    _check_prerequisites()
    programs = [p for p in services() if p.autostart]
    states = _process_states()
    to_start = [p for p in programs if states.get(p.name, {}).get("statename") != "RUNNING"]
    for program in to_start:
        if program.port is not None and not _port_free("127.0.0.1", program.port):
            raise UserError(
                f"port {program.port} for {program.name} is in use; set {program.port_key} in .env"
            )
    if not to_start:
        typer.echo("platform already running")
        _wait_healthy(programs)
        return
    for directory in (_logs(), _state() / "redis", _state() / "mlflow", airflow_home()):
        directory.mkdir(parents=True, exist_ok=True)
    env = platform_environment()
    started = time.monotonic()
    if any(p.name.startswith("airflow") for p in to_start):
        typer.echo("migrating the Airflow database ...")
        _migrate_airflow(env)
    if states:  # supervisord runs; some programs stopped or crashed
        for program in to_start:
            _rpc().supervisor.startProcess(program.name, False)
    else:
        config = _state() / "supervisord.conf"
        config.write_text(supervisord_config(services()))
        supervisord = Path(sys.executable).parent / "supervisord"
        subprocess.run([str(supervisord), "-c", str(config)], env=env, check=True)
        _wait_for(_supervisor_running, 15, "supervisord", "supervisord")
    typer.echo("waiting for health checks ...")
    _wait_healthy(programs)
    typer.echo(f"platform up in {time.monotonic() - started:.1f} s")
    status(exit_on_unhealthy=False)


def _wait_for(check: Callable[[], bool], timeout: float, what: str, log: str) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise UserError(f"{what} did not start in {timeout:.0f} s; log {log_file(log)}")
        time.sleep(0.2)


def down() -> None:
    """Stop everything `up` started (supervisord and its process groups); data stays."""
    if not _supervisor_running():
        typer.echo("platform is not running; nothing to stop")
        return
    pid_file = _state() / "supervisord.pid"
    pid = int(pid_file.read_text()) if pid_file.exists() else None
    _rpc().supervisor.shutdown()
    deadline = time.monotonic() + 90
    while pid is not None and _pid_alive(pid):
        if time.monotonic() > deadline:
            raise UserError(f"supervisord (pid {pid}) did not stop in 90 s; see {_logs()}")
        time.sleep(0.3)
    typer.echo(f"platform stopped; data kept in {_state()}")


def _pid_alive(pid: int) -> bool:
    import psutil

    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def _tree_rss_mib(pid: int) -> float:
    import psutil

    try:
        root = psutil.Process(pid)
        procs = [root, *root.children(recursive=True)]
    except psutil.NoSuchProcess:
        return 0.0
    total = 0
    for proc in procs:
        try:
            total += proc.memory_info().rss
        except psutil.NoSuchProcess:
            continue
    return total / 2**20


def admin_password() -> str | None:
    """The Airflow admin password generated by the simple auth manager, once it exists."""
    import json

    path = airflow_home() / "simple_auth_manager_passwords.json.generated"
    if not path.exists():
        return None
    passwords = json.loads(path.read_text())
    return passwords.get(get_airflow_settings().admin_user)


def status(exit_on_unhealthy: bool = True) -> None:
    """Print each service's state, health, URL and memory, and the Airflow login."""
    states = _process_states()
    if not states:
        typer.echo("platform is not running (start it with `make up`)")
        if exit_on_unhealthy:
            raise typer.Exit(3)
        return
    all_healthy = True
    total_mib = 0.0
    typer.echo(f"{'service':<22} {'state':<9} {'health':<10} {'memory':>9}  url")
    for program in services():
        info = states.get(program.name, {})
        state = info.get("statename", "UNKNOWN")
        try:
            healthy = state == "RUNNING" and program.health()
        except Exception:
            healthy = False
        if not program.autostart and state != "RUNNING":
            typer.echo(f"{program.name:<22} {state:<9} {'-':<10} {'':>9}  (started by make serve)")
            continue
        all_healthy &= healthy
        mib = _tree_rss_mib(info["pid"]) if info.get("pid") else 0.0
        total_mib += mib
        health = "healthy" if healthy else "UNHEALTHY"
        typer.echo(f"{program.name:<22} {state:<9} {health:<10} {mib:>6.0f} MiB  {program.url}")
    typer.echo(f"{'total':<43} {total_mib:>6.0f} MiB")
    password = admin_password() or "(generated at first api-server start)"
    settings = get_airflow_settings()
    typer.echo(f"Airflow UI: {settings.url}  user: {settings.admin_user}  password: {password}")
    typer.echo(f"MLflow UI:  {get_mlflow_settings().resolved_tracking_uri}")
    typer.echo(f"logs:       {_logs()}")
    if exit_on_unhealthy and not all_healthy:
        raise typer.Exit(1)


def wait_for_admin_password(timeout: float = 60) -> str:
    """The admin password, once the api-server has generated it."""
    deadline = time.monotonic() + timeout
    while (password := admin_password()) is None:
        if time.monotonic() > deadline:
            raise UserError(f"no Airflow admin password under {airflow_home()}; is Airflow up?")
        time.sleep(1)
    return password


def start_online_service() -> str:
    """Start the online service under the supervisor (the platform must be up); its URL."""
    program = next(p for p in services() if p.name == "online-service")
    states = _process_states()
    if not states:
        raise UserError("the platform is not running; start it with `make up`")
    if states.get(program.name, {}).get("statename") != "RUNNING":
        if not _port_free("127.0.0.1", program.port or 0):
            raise UserError(
                f"port {program.port} for {program.name} is in use; set {program.port_key} in .env"
            )
        try:
            _rpc().supervisor.startProcess(program.name, False)
        except xmlrpc.client.Fault as fault:
            if "ALREADY_STARTED" not in fault.faultString:
                raise
    _wait_healthy([program])
    return program.url


def stop_online_service() -> None:
    if _process_states().get("online-service", {}).get("statename") == "RUNNING":
        _rpc().supervisor.stopProcess("online-service", True)


@app.callback()
def _main() -> None:
    configure_logging()


@app.command("up")
def up_command() -> None:
    """Start Redis, MLflow and Airflow in the background; return when all are healthy."""
    up()


@app.command("down")
def down_command() -> None:
    """Stop the platform started by `up`; data and logs stay in the state directory."""
    down()


@app.command("status")
def status_command() -> None:
    """Each service's state, health, URL and memory; exit 1 if any is unhealthy, 3 if down."""
    status()


@app.command(
    "airflow",
    context_settings={"allow_extra_args": True, "ignore_unknown_options": True},
)
def airflow_command(ctx: typer.Context) -> None:
    """Run the Airflow CLI with the project's configuration, e.g. `airflow dags list`."""
    env = {**os.environ, **airflow_environment()}
    result = subprocess.run([_airflow_bin(), *ctx.args], env=env, check=False)
    raise typer.Exit(result.returncode)


@app.command("serve")
def serve_command() -> None:
    """Start the online service in the background (needs `up` and a champion model)."""
    typer.echo(f"online service ready at {start_online_service()} (Swagger UI at /)")


@app.command("demo")
def demo_command() -> None:
    """The whole lifecycle through Airflow, ending in a live /inference answer."""
    from mlops_common.demo import run_demo

    run_demo()
