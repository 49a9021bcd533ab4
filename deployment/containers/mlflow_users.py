"""Create or update the account the pipelines and the online service use on the compose MLflow.

Run once per start by the compose service `mlflow-init` (in the MLflow image) as the admin
(MLFLOW_TRACKING_USERNAME / MLFLOW_TRACKING_PASSWORD): the account MLFLOW_PIPELINE_USERNAME
gets the password MLFLOW_PIPELINE_PASSWORD from deployment/.env, so a changed password in
`.env` applies on the next `up`. Idempotent.
"""

from __future__ import annotations

import logging
import os

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


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s")
    client = AuthServiceClient(os.environ["MLFLOW_TRACKING_URI"])
    username = os.environ["MLFLOW_PIPELINE_USERNAME"]
    done = ensure_pipeline_account(client, username, os.environ["MLFLOW_PIPELINE_PASSWORD"])
    logger.info("MLflow account %s %s", username, done)


if __name__ == "__main__":
    main()
