"""`mlops-platform status`: each service's state, health, URL and memory, and the logins."""

from __future__ import annotations

import psutil
import typer
from mlops_common.settings import get_airflow_settings, get_mlflow_settings

from mlops_platform.airflow_env import admin_password
from mlops_platform.services import is_healthy, services
from mlops_platform.state import logs_dir
from mlops_platform.supervisor import process_states


def _tree_rss_mib(pid: int) -> float:
    """Resident memory of PID and all its descendants, in MiB."""
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


def registry_line() -> str:
    """Which versions carry the champion and the challenger alias, in one line (or why the
    registry could not say)."""
    from mlops_common.champion import CHALLENGER_SINCE_TAG, RegistryError, champion_or_none

    settings = get_mlflow_settings()
    try:
        champion = champion_or_none(timeout=3)
        challenger = champion_or_none(alias=settings.challenger_alias, timeout=3)
    except RegistryError as exc:
        return f"registry unavailable ({exc})"
    parts = [
        f"{settings.model_name} champion "
        + (f"v{champion.version}" if champion else "none (run training_pipeline)")
    ]
    if challenger is not None:
        since = challenger.tags.get(CHALLENGER_SINCE_TAG)
        parts.append(
            f"challenger v{challenger.version}" + (f" (in shadow since {since})" if since else "")
        )
    else:
        parts.append("no challenger")
    return ", ".join(parts)


def status(exit_on_unhealthy: bool = True) -> None:
    """Print each service's state, health, URL and memory, and the Airflow login."""
    states = process_states()
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
        if not program.autostart and state != "RUNNING":
            typer.echo(f"{program.name:<22} {state:<9} {'-':<10} {'':>9}  (started by make serve)")
            continue
        healthy = state == "RUNNING" and is_healthy(program)
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
    typer.echo(f"models:     {registry_line()}")
    typer.echo(f"logs:       {logs_dir()}")
    if exit_on_unhealthy and not all_healthy:
        raise typer.Exit(1)
