"""`mlops-platform`: the local platform's CLI (behind `make up|down|status|serve|demo|airflow`)
and the compose deployment's (`make compose_up|compose_down|compose_status|compose_demo`)."""

from __future__ import annotations

import os
import subprocess
from typing import TYPE_CHECKING

import typer
from mlops_common.errors import cli_app
from mlops_common.logs import configure_logging

from mlops_platform import lifecycle
from mlops_platform.airflow_env import airflow_bin, airflow_environment
from mlops_platform.status import status

if TYPE_CHECKING:
    from mlops_platform.compose import ComposeStack

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


compose_app = cli_app(
    "The compose deployment with podman (deployment/docker-compose.yml).", no_args_is_help=True
)
app.add_typer(compose_app, name="compose")


def _stack() -> ComposeStack:
    from mlops_platform.compose import ComposeStack
    from mlops_platform.compose_env import get_compose_settings

    return ComposeStack(get_compose_settings())


@compose_app.command("up")
def compose_up_command() -> None:
    """Images if missing, then every service, stage by stage, until healthy (serving: once a
    champion exists). Writes deployment/.env with generated secrets when it is missing."""
    from mlops_platform.compose_env import stack_addresses

    stack = _stack()
    addresses = stack_addresses(stack.up())
    typer.echo(
        f"compose stack up: Airflow {addresses.airflow_url}, MLflow {addresses.mlflow_url}, "
        f"serving {addresses.serving_url} (logins in {stack.env_file})"
    )


@compose_app.command("down")
def compose_down_command(
    volumes: bool = typer.Option(False, "--volumes", "-v", help="Also delete every volume."),
) -> None:
    """Stop and remove the stack's containers; volumes (all state) are kept unless -v."""
    _stack().down(volumes=volumes)


@compose_app.command("status")
def compose_status_command(
    wait: bool = typer.Option(
        False, "--wait", help="First wait (COMPOSE_TIMEOUT_SECONDS at most) until all are ready."
    ),
) -> None:
    """Each service's state, health (its check run now), restarts and memory; exit 1 unless
    every service is healthy (one-shot ones: exited 0)."""
    from mlops_common.errors import UserError

    from mlops_platform.compose import render_status

    stack = _stack()
    if wait:
        try:
            stack.wait_ready(stack.services(), stack.settings.timeout_seconds)
        except UserError as exc:
            typer.echo(str(exc), err=True)
    table, ready = render_status(stack)
    typer.echo(table)
    raise typer.Exit(0 if ready else 1)


@compose_app.command("demo")
def compose_demo_command() -> None:
    """The stack up, the four DAGs through its Airflow, then /inference from its serving."""
    from mlops_platform.compose_demo import run_compose_demo

    run_compose_demo(_stack())
