"""`make compose_demo`: the whole lifecycle on the compose stack, through its Airflow's REST API.

The stack comes up (`deployment/.env` written with generated secrets when missing); the data,
materialize, training and batch DAGs run in the compose scheduler, each task a DockerOperator
container started through the podman socket on the stack's network and artifact volume; then
the compose serving container, which loads the champion from the compose MLflow by itself,
answers `POST /inference`. Prints the URLs and the logins.
"""

from __future__ import annotations

import json
import time

import httpx
import typer
from mlops_common.errors import UserError

from mlops_platform.airflow_client import AirflowClient
from mlops_platform.compose import NEEDS_CHAMPION, ComposeStack
from mlops_platform.compose_env import StackAddresses, stack_addresses
from mlops_platform.demo import EXAMPLE_REQUEST, run_dags


def champion_version(addresses: StackAddresses) -> str | None:
    """The version behind the champion alias in the compose MLflow (the pipelines' account)."""
    response = httpx.get(
        f"{addresses.mlflow_url}/api/2.0/mlflow/registered-models/alias",
        params={"name": "driver_ranking", "alias": "champion"},
        auth=(addresses.mlflow_user, addresses.mlflow_password),
        timeout=10,
    )
    if response.status_code != 200:
        return None
    return str(response.json()["model_version"]["version"])


def ask_inference(addresses: StackAddresses) -> dict[str, object]:
    """POST the example request to the compose serving container, with the API key."""
    response = httpx.post(
        f"{addresses.serving_url}/inference",
        json=EXAMPLE_REQUEST,
        headers={"X-API-Key": addresses.serving_api_key},
        timeout=30,
    )
    if response.status_code != 200:
        raise UserError(
            f"/inference of the compose serving container answered {response.status_code}: "
            f"{response.text[:300]}; see `podman logs driver-ranking_serving_1`"
        )
    body: dict[str, object] = response.json()
    return body


def run_compose_demo(stack: ComposeStack) -> None:
    started = time.monotonic()
    addresses = stack_addresses(stack.up())
    typer.echo(f"compose stack up in {time.monotonic() - started:.0f} s")
    client = AirflowClient(
        addresses.airflow_url, addresses.airflow_user, addresses.airflow_password
    )
    try:
        run_dags(client, champion=lambda: champion_version(addresses))
    finally:
        client.close()
    # The service polls the registry for the champion; it is ready once it has loaded it.
    stack.wait_ready(NEEDS_CHAMPION, stack.settings.timeout_seconds)
    body = ask_inference(addresses)
    typer.echo(f"POST {addresses.serving_url}/inference {json.dumps(EXAMPLE_REQUEST)}")
    typer.echo(f"-> {json.dumps(body, indent=2)}")
    typer.echo(
        f"\nbest driver {body['best_driver_id']}, champion version {body['model_version']}\n"
        "\nwhere to look next (secrets from "
        f"{stack.env_file}):\n"
        f"  Airflow UI   {addresses.airflow_url}  "
        f"(admin {addresses.airflow_user}, password {addresses.airflow_password}; "
        f"read-only {addresses.airflow_viewer}, password {addresses.airflow_viewer_password})\n"
        f"  MLflow UI    {addresses.mlflow_url}  "
        f"(admin {addresses.mlflow_admin}, password {addresses.mlflow_admin_password}; "
        f"pipelines account {addresses.mlflow_user})\n"
        f"  /inference   {addresses.serving_url}/inference  "
        f"(header X-API-Key: {addresses.serving_api_key})\n"
        f"compose demo finished in {time.monotonic() - started:.0f} s"
    )
