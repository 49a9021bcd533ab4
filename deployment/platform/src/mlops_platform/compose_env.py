"""The compose deployment's settings file (`deployment/.env`): generated once, then read.

Compose takes every secret from this file and has no default for any of them. For the demo
(`make compose_demo` on a fresh clone) the file is written from `compose.env-example` with a
fresh `secrets.token_urlsafe` value for each required secret; an existing file is never touched.
"""

from __future__ import annotations

import os
import re
import secrets
import tempfile
from dataclasses import dataclass
from pathlib import Path

from dotenv import dotenv_values
from mlops_common.errors import UserError
from mlops_common.settings import project_root, settings_config
from pydantic import Field
from pydantic_settings import BaseSettings

# A line `KEY=` with nothing after it: a required secret in compose.env-example.
_EMPTY_KEY = re.compile(r"^([A-Z][A-Z0-9_]*)=\s*$", flags=re.MULTILINE)


class ComposeSettings(BaseSettings):
    """Where the compose deployment's files are and which compose implementation runs them."""

    model_config = settings_config("COMPOSE_")

    env_file: Path = Field(
        Path("deployment/.env"), description="Settings and secrets of the compose stack."
    )
    local_images: bool = Field(
        True,
        description="Add deployment/docker-compose.local.yml (PostgreSQL built from Debian's "
        "package) for machines without a registry.",
    )
    command: str = Field(
        "",
        description="The compose command, e.g. `docker compose`; empty: the podman-compose "
        "of this environment.",
    )
    timeout_seconds: float = Field(
        900, gt=0, description="How long `compose up` waits for the services to be healthy."
    )

    def model_post_init(self, _context: object) -> None:
        if not self.env_file.is_absolute():
            self.env_file = project_root() / self.env_file


def get_compose_settings() -> ComposeSettings:
    return ComposeSettings()


def example_file() -> Path:
    return project_root() / "deployment" / "compose.env-example"


def podman_socket() -> Path:
    """The API socket `deployment/containers/podman.sh start` serves (state dir .platform)."""
    state = Path(os.environ.get("MLOPS_STATE_DIR", ".platform"))
    state = state if state.is_absolute() else project_root() / state
    return state / "podman" / "podman.sock"


def generated_env_text(example: str, socket: Path) -> str:
    """EXAMPLE with a fresh secret after every empty `KEY=` and DOCKER_SOCKET set to SOCKET."""
    text = _EMPTY_KEY.sub(lambda m: f"{m.group(1)}={secrets.token_urlsafe(32)}", example)
    note = "# Written by `make compose_up`: the podman API socket."
    return f"{text.rstrip()}\n\n{note}\nDOCKER_SOCKET={socket}\n"


def ensure_env_file(path: Path) -> bool:
    """Write PATH from compose.env-example with generated secrets when it is missing
    (atomically, readable by the owner only); True when it was written."""
    if path.exists():
        return False
    text = generated_env_text(example_file().read_text(), podman_socket())
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "w") as handle:
            handle.write(text)
        os.chmod(tmp, 0o600)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return True


@dataclass(frozen=True)
class StackAddresses:
    """Where the compose stack's published services answer on this host, and its logins."""

    airflow_url: str
    mlflow_url: str
    serving_url: str
    airflow_user: str
    airflow_password: str
    airflow_viewer: str
    airflow_viewer_password: str
    mlflow_admin: str
    mlflow_admin_password: str
    mlflow_user: str
    mlflow_password: str
    serving_api_key: str


def _url(published: str) -> str:
    """`host:port` as compose publishes it -> a URL this host can call (0.0.0.0 -> loopback)."""
    host, _, port = published.rpartition(":")
    if host in ("", "0.0.0.0", "::", "[::]"):
        host = "127.0.0.1"
    return f"http://{host}:{port}"


def read_env_file(path: Path) -> dict[str, str]:
    """The values of PATH; a one-line error naming the missing secret when one is empty."""
    if not path.is_file():
        raise UserError(
            f"{path} does not exist: copy deployment/compose.env-example there and set every "
            "secret, or run `make compose_up`, which writes one with generated secrets"
        )
    values = {key: value or "" for key, value in dotenv_values(path).items()}
    required = _EMPTY_KEY.findall(example_file().read_text())
    missing = [key for key in required if not values.get(key)]
    if missing:
        raise UserError(f"{path}: set {', '.join(missing)} (no secret has a default)")
    return values


def stack_addresses(values: dict[str, str]) -> StackAddresses:
    """The URLs and accounts of the stack configured by VALUES (compose's defaults otherwise)."""
    return StackAddresses(
        airflow_url=_url(values.get("AIRFLOW_PUBLISH") or "127.0.0.1:18080"),
        mlflow_url=_url(values.get("MLFLOW_PUBLISH") or "127.0.0.1:15500"),
        serving_url=_url(values.get("SERVING_PUBLISH") or "127.0.0.1:13000"),
        airflow_user=values.get("AIRFLOW_ADMIN_USER") or "admin",
        airflow_password=values["AIRFLOW_ADMIN_PASSWORD"],
        airflow_viewer=values.get("AIRFLOW_VIEWER_USER") or "viewer",
        airflow_viewer_password=values["AIRFLOW_VIEWER_PASSWORD"],
        mlflow_admin=values.get("MLFLOW_ADMIN_USERNAME") or "admin",
        mlflow_admin_password=values["MLFLOW_ADMIN_PASSWORD"],
        mlflow_user=values.get("MLFLOW_PIPELINE_USERNAME") or "pipelines",
        mlflow_password=values["MLFLOW_PIPELINE_PASSWORD"],
        serving_api_key=values["SERVING_API_KEY"],
    )
