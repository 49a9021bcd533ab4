"""The compose deployment's env file: generated secrets for the demo, one-line errors otherwise."""

from __future__ import annotations

import re
import stat
from pathlib import Path

import pytest
from mlops_common.errors import UserError
from mlops_platform.compose_env import (
    ensure_env_file,
    example_file,
    read_env_file,
    stack_addresses,
)
from mlops_platform.compose_env import (
    podman_socket as socket_path,
)

REQUIRED = re.findall(r"^([A-Z][A-Z0-9_]*)=\s*$", example_file().read_text(), flags=re.MULTILINE)


def test_every_secret_of_the_compose_file_is_required_in_the_example() -> None:
    lines = (example_file().parent / "docker-compose.yml").read_text().splitlines()
    compose = "\n".join(line for line in lines if not line.lstrip().startswith("#"))
    required_in_compose = set(re.findall(r"\$\{([A-Z0-9_]+):\?", compose))
    assert required_in_compose == set(REQUIRED)


def test_a_missing_env_file_is_written_with_fresh_secrets_readable_by_the_owner(
    tmp_path: Path,
) -> None:
    first, second = tmp_path / "a" / ".env", tmp_path / "b" / ".env"

    assert ensure_env_file(first) is True
    assert ensure_env_file(second) is True

    a, b = read_env_file(first), read_env_file(second)
    for key in REQUIRED:
        assert len(a[key]) >= 32
        assert a[key] != b[key]
    assert len({a[key] for key in REQUIRED}) == len(REQUIRED)
    assert a["DOCKER_SOCKET"] == str(socket_path())
    assert stat.S_IMODE(first.stat().st_mode) == 0o600


def test_an_existing_env_file_is_never_rewritten(tmp_path: Path) -> None:
    path = tmp_path / ".env"
    path.write_text("POSTGRES_PASSWORD=mine\n")

    assert ensure_env_file(path) is False
    assert path.read_text() == "POSTGRES_PASSWORD=mine\n"


def test_an_empty_secret_is_refused_by_name(tmp_path: Path) -> None:
    path = tmp_path / ".env"
    ensure_env_file(path)
    path.write_text(re.sub(r"^REDIS_PASSWORD=.*$", "REDIS_PASSWORD=", path.read_text(), flags=re.M))

    with pytest.raises(UserError, match=r"set REDIS_PASSWORD \(no secret has a default\)"):
        read_env_file(path)


def test_a_missing_env_file_is_refused_with_the_fix(tmp_path: Path) -> None:
    with pytest.raises(UserError, match=r"compose\.env-example"):
        read_env_file(tmp_path / "absent.env")


def test_published_addresses_become_urls_this_host_can_call(tmp_path: Path) -> None:
    path = tmp_path / ".env"
    ensure_env_file(path)
    values = read_env_file(path)

    defaults = stack_addresses(values)
    exposed = stack_addresses({**values, "AIRFLOW_PUBLISH": "0.0.0.0:8081"})

    assert defaults.airflow_url == "http://127.0.0.1:18080"
    assert defaults.mlflow_url == "http://127.0.0.1:15500"
    assert defaults.serving_url == "http://127.0.0.1:13000"
    assert exposed.airflow_url == "http://127.0.0.1:8081"
    assert defaults.serving_api_key == values["SERVING_API_KEY"]
