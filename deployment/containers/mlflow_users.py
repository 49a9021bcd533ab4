"""The account the pipelines and the online service use on the compose MLflow, and their model.

Run at every start by the compose service `mlflow-init` (in the MLflow image):
1. as the admin (MLFLOW_TRACKING_USERNAME / MLFLOW_TRACKING_PASSWORD), create the account
   MLFLOW_PIPELINE_USERNAME with MLFLOW_PIPELINE_PASSWORD from deployment/.env, or set that
   password when the account exists (a changed password in `.env` applies on the next `up`);
2. as that account, register the model MLFLOW_MODEL_NAME when it does not exist yet, so the
   account owns it. MLflow's auth app answers 403, not 404, to a non-admin who asks for an
   alias of a model that does not exist (so names cannot be probed); with the model in place,
   "no champion yet" is the 404 the pipelines and the service expect.
Idempotent.
"""

from __future__ import annotations

import logging
import os

import requests
from mlflow.exceptions import RestException
from mlflow.server.auth.client import AuthServiceClient

logger = logging.getLogger(__name__)


def ensure_pipeline_account(client: AuthServiceClient, username: str, password: str) -> str:
    """Create USERNAME with PASSWORD, or set PASSWORD when it exists; returns what was done."""
    try:
        client.get_user(username)
    except RestException as exc:
        if exc.error_code != "RESOURCE_DOES_NOT_EXIST":
            raise
        client.create_user(username, password)
        return "created"
    client.update_user_password(username, password)
    return "updated"


def ensure_registered_model(uri: str, name: str, auth: tuple[str, str]) -> str:
    """Register model NAME as the account AUTH unless it exists; returns what was done."""
    response = requests.post(
        f"{uri.rstrip('/')}/api/2.0/mlflow/registered-models/create",
        json={"name": name},
        auth=auth,
        timeout=30,
    )
    if response.ok:
        return "registered"
    if response.json().get("error_code") == "RESOURCE_ALREADY_EXISTS":
        return "already registered"
    response.raise_for_status()
    raise RuntimeError(f"registering {name} answered {response.status_code}: {response.text}")


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s")
    uri = os.environ["MLFLOW_TRACKING_URI"]
    username = os.environ["MLFLOW_PIPELINE_USERNAME"]
    password = os.environ["MLFLOW_PIPELINE_PASSWORD"]
    done = ensure_pipeline_account(AuthServiceClient(uri), username, password)
    logger.info("MLflow account %s %s", username, done)
    model = os.environ.get("MLFLOW_MODEL_NAME", "driver_ranking")
    done = ensure_registered_model(uri, model, (username, password))
    logger.info("model %s %s (owner %s)", model, done, username)


if __name__ == "__main__":
    main()
