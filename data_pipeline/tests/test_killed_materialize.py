"""`data-pipeline materialize` killed (SIGKILL) in the middle of its work, then run again as
Airflow's retry would: Redis and the registry end as after an undisturbed run, and Redis never
holds a half-written row (`mlops_testing.kill_point` stops the real CLI at the named point)."""

from __future__ import annotations

import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest
from data_pipeline.materialize import materialize
from feature_store.apply import apply_repo
from feature_store.store import get_store
from mlops_common.settings import get_feast_settings
from mlops_testing.kill_point import stopped_at

pytestmark = [pytest.mark.integration, pytest.mark.slow]

CLI = str(Path(sys.executable).with_name("data-pipeline"))
FIELDS_PER_ROW = 4  # `_ts:driver_stats` and the view's three features


def stored_hashes(server) -> dict[bytes, dict[bytes, bytes]]:
    client = server.client()
    try:
        return {key: client.hgetall(key) for key in client.keys("*")}
    finally:
        client.close()


def intervals() -> list[tuple[object, object]]:
    return list(get_store().get_feature_view("driver_stats").materialization_intervals)


def fresh_start(published, redis_env) -> None:
    """An empty Redis and registry, the repo applied, the previous hours materialized."""
    redis_env.client().flushall()
    registry = get_feast_settings().registry_path
    assert registry is not None
    registry.unlink(missing_ok=True)
    apply_repo()
    materialize(published.end - timedelta(hours=5))


def command(published) -> list[str]:
    return [CLI, "materialize", "--end-time", published.end.isoformat(), "--run-id", "retried"]


@pytest.mark.parametrize(
    ("point", "when"),
    [
        # Redis written, the interval not yet recorded in the registry.
        ("data_pipeline.materialize:_ScriptWriter.write", "after"),
        # Stored timestamps read, nothing written yet.
        ("data_pipeline.materialize:_ScriptWriter.write", "before"),
        # Inside Feast's registry write: the registry file opened for writing, not yet written.
        ("feast.protos.feast.core.Registry_pb2:Registry.SerializeToString", "before"),
    ],
)
def test_materialize_killed_mid_write_then_retried(
    published, redis_env, tmp_path, point: str, when: str
) -> None:
    fresh_start(published, redis_env)
    materialize(published.end)
    expected = {"redis": stored_hashes(redis_env), "intervals": intervals()}
    assert len(expected["intervals"]) == 2

    fresh_start(published, redis_env)
    before = stored_hashes(redis_env)
    with stopped_at(point, command(published), when=when, log=tmp_path / "killed.log"):
        # At the instant of the kill: every stored row is whole (old or new, never mixed).
        at_kill = stored_hashes(redis_env)
        assert set(at_kill) == set(expected["redis"])
        for key, fields in at_kill.items():
            assert len(fields) == FIELDS_PER_ROW, key
            assert fields in (before.get(key), expected["redis"][key]), key
    registry = get_feast_settings().registry_path
    assert registry is not None
    assert registry.stat().st_size > 0, "the registry survived"

    retry = subprocess.run(command(published), capture_output=True, text=True, timeout=300)
    assert retry.returncode == 0, retry.stdout + retry.stderr
    assert stored_hashes(redis_env) == expected["redis"]
    assert intervals() == expected["intervals"], "the interval is recorded once"
    assert not list(registry.parent.glob(".*")), "the killed write's temporary file is gone"


def test_the_registry_is_written_by_the_atomic_store(published, redis_env) -> None:
    """feature_store.yaml selects the store whose write survives a kill (guard: Feast still
    reads and writes the same registry through it)."""
    from feast.infra.registry.file import FileRegistryStore
    from feature_store.registry_store import AtomicFileRegistryStore

    apply_repo()
    store = get_store()
    assert type(store.registry._registry_store) is AtomicFileRegistryStore
    materialize(published.end)
    path = get_feast_settings().registry_path
    assert path is not None
    plain = FileRegistryStore(store.config.registry, store.repo_path)
    assert plain.get_registry_proto() == store.registry._registry_store.get_registry_proto()
    assert len(intervals()) == 1
