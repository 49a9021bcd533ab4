"""`mlops-platform`: the local platform's CLI (behind `make up|down|status|serve|demo|airflow`)."""

from __future__ import annotations

import os
import subprocess

import typer
from mlops_common.errors import cli_app
from mlops_common.logs import configure_logging

from mlops_platform import lifecycle
from mlops_platform.airflow_env import airflow_bin, airflow_environment
from mlops_platform.status import status

app = cli_app("Run the local platform: Redis, MLflow and Airflow.", no_args_is_help=True)


@app.callback()
def _main() -> None:
    configure_logging()


@app.command("up")
def up_command() -> None:
    """Start Redis, MLflow and Airflow in the background; return when all are healthy."""
    lifecycle.up()


@app.command("down")
def down_command() -> None:
    """Stop the platform started by `up`; data and logs stay in the state directory."""
    lifecycle.down()


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
    result = subprocess.run([airflow_bin(), *ctx.args], env=env, check=False)
    raise typer.Exit(result.returncode)


@app.command("serve")
def serve_command() -> None:
    """Start the online service in the background (needs `up` and a champion model)."""
    typer.echo(f"online service ready at {lifecycle.start_online_service()} (Swagger UI at /)")


@app.command("demo")
def demo_command() -> None:
    """The whole lifecycle through Airflow, ending in a live /inference answer."""
    from mlops_platform.demo import run_demo

    run_demo()


@app.command("demo-drift")
def demo_drift_command() -> None:
    """After `make demo`: stable then drifted traffic, drift -> retraining -> new champion."""
    from mlops_platform.demo_drift import run_demo_drift

    run_demo_drift()
