"""The compose file's `redis-cluster` profile, its nodes and its init run as compose defines
them (command, environment, image) on a throw-away network: the cluster forms with the
password from the env file, refuses a client without it, and answers one with it.

Run with podman directly, not podman-compose, so it never touches the compose stack the other
tests here bring up (same project name, same network)."""

from __future__ import annotations

import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from mlops_platform.compose_env import read_env_file
from mlops_platform.processes import wait_for

from .test_compose import write_env_file

NODES = ("redis-node-1", "redis-node-2", "redis-node-3")


def env_args(environment: dict[str, str]) -> list[str]:
    return [arg for key, value in environment.items() for arg in ("-e", f"{key}={value}")]


@pytest.fixture
def profile(engine: Any, tmp_path: Path) -> Iterator[tuple[dict[str, Any], str, str]]:
    """The profile's services from `podman-compose config`, a network, the password."""
    if engine.podman("image", "exists", "driver-ranking-redis:latest").returncode:
        pytest.skip("the Redis image is not built: run deployment/containers/build_images.sh redis")
    env_file = write_env_file(tmp_path / "compose.env")
    config = subprocess.run(
        [str(engine.root / ".venv/bin/podman-compose"), "-f", "deployment/docker-compose.yml",
         "--env-file", str(env_file), "--profile", "redis-cluster", "config"],
        cwd=engine.root, capture_output=True, text=True, timeout=120, check=True,
    )  # fmt: skip
    network = f"redis-cluster-test-{uuid.uuid4().hex[:6]}"
    assert engine.podman("network", "create", network).returncode == 0
    yield (
        yaml.safe_load(config.stdout)["services"],
        network,
        read_env_file(env_file)["REDIS_PASSWORD"],
    )
    engine.podman("rm", "-f", *(f"{network}-{node}" for node in NODES))
    engine.podman("network", "rm", "-f", network)


def test_cluster_profile_requires_the_password_from_the_env_file(
    engine: Any, profile: tuple[dict[str, Any], str, str]
) -> None:
    services, network, password = profile
    for node in NODES:
        service = services[node]
        started = engine.podman(
            "run", "-d", "--name", f"{network}-{node}", "--network", network,
            "--network-alias", node, *env_args(service["environment"]),
            "--entrypoint", service["entrypoint"][0], service["image"],
            *service["entrypoint"][1:], *service["command"],
        )  # fmt: skip
        assert started.returncode == 0, started.stderr
    first = f"{network}-{NODES[0]}"

    def answers() -> bool:  # every node, as the init's depends_on waits for
        return all(
            engine.podman(
                "exec", "-e", f"REDISCLI_AUTH={password}", f"{network}-{node}", "redis-cli", "ping"
            ).stdout.strip()
            == "PONG"
            for node in NODES
        )

    wait_for(answers, timeout=60, interval=0.5, timeout_error=lambda: AssertionError("no PONG"))
    init = services["redis-cluster-init"]
    created = engine.podman(
        "run", "--rm", "--network", network, *env_args(init["environment"]),
        "--entrypoint", init["entrypoint"][0], init["image"], *init["entrypoint"][1:],
        *init["command"],
    )  # fmt: skip
    assert created.returncode == 0, created.stdout[-2000:] + created.stderr[-2000:]

    refused = engine.podman("exec", first, "redis-cli", "get", "x")
    info = engine.podman("exec", "-e", f"REDISCLI_AUTH={password}", first, "redis-cli",
                         "cluster", "info")  # fmt: skip
    # A client following the cluster's redirects (-c) to whichever node owns the key.
    written = engine.podman(
        "exec", "-e", f"REDISCLI_AUTH={password}", first,
        "redis-cli", "-c", "-h", NODES[1], "set", "driver:1001", "x",
    )  # fmt: skip

    assert "NOAUTH" in refused.stdout + refused.stderr
    assert "cluster_state:ok" in info.stdout
    assert "cluster_slots_assigned:16384" in info.stdout
    assert written.stdout.strip() == "OK"
