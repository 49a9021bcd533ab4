"""The compose deployment, run for real with podman-compose: `make compose_demo` from an empty
stack, every service refusing a caller without credentials, Airflow's roles (FAB auth manager:
a viewer reads but cannot trigger, the admin can), state surviving `down` + `up` (which also
switches the stack to the CeleryExecutor), a DAG run on a compose Celery worker, and a crashed
service brought back by its restart policy.

One stack per session: the demo runs under the default LocalExecutor; the down + up of the
state test brings the same stack back with the `celery` profile, so both executors run here
without a second start from empty.

The stack publishes its ports on free loopback ports (the `*_PUBLISH` settings of a throw-away
env file), so it never collides with the local platform or other tests; its containers and
volumes are removed at the end. It uses the network and artifact volume names of the
containers platform (`driver-ranking`, `driver-ranking-artifacts`): tests here run one at a time.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from mlops_platform.airflow_client import AirflowClient
from mlops_platform.compose_env import (
    StackAddresses,
    example_file,
    generated_env_text,
    podman_socket,
    read_env_file,
    stack_addresses,
)
from mlops_platform.processes import free_port, wait_for

COMPOSE_IMAGES = ("redis", "postgres", "prometheus", "mlflow", "airflow")
CANDIDATES = [1001, 1002, 1003, 1004, 1005]


@dataclass
class Stack:
    root: Path
    env_file: Path
    addresses: StackAddresses
    demo: subprocess.CompletedProcess[str]

    def cli(self, *args: str, timeout: float = 1800) -> subprocess.CompletedProcess[str]:
        """`mlops-platform compose ARGS` against this stack's env file."""
        return subprocess.run(
            [str(self.root / ".venv" / "bin" / "mlops-platform"), "compose", *args],
            cwd=self.root,
            env={**os.environ, "COMPOSE_ENV_FILE": str(self.env_file)},
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )

    def inference(self, key: str | None) -> httpx.Response:
        headers = {"X-API-Key": key} if key is not None else {}
        return httpx.post(
            f"{self.addresses.serving_url}/inference",
            json={"request_id": "compose-test", "driver_ids": CANDIDATES},
            headers=headers,
            timeout=30,
        )

    def champion(self) -> str:
        response = httpx.get(
            f"{self.addresses.mlflow_url}/api/2.0/mlflow/registered-models/alias",
            params={"name": "driver_ranking", "alias": "champion"},
            auth=(self.addresses.mlflow_user, self.addresses.mlflow_password),
            timeout=10,
        )
        assert response.status_code == 200, response.text
        return str(response.json()["model_version"]["version"])

    def airflow_token(self, viewer: bool = False) -> str:
        """A REST token of the admin, or of the read-only viewer with VIEWER."""
        a = self.addresses
        response = httpx.post(
            f"{a.airflow_url}/auth/token",
            json={
                "username": a.airflow_viewer if viewer else a.airflow_user,
                "password": a.airflow_viewer_password if viewer else a.airflow_password,
            },
            timeout=30,
        )
        assert response.status_code in (200, 201), response.text
        return str(response.json()["access_token"])

    def airflow(self, method: str, path: str, token: str, **kwargs: Any) -> httpx.Response:
        """METHOD /api/v2PATH on the stack's Airflow with TOKEN."""
        return httpx.request(
            method,
            f"{self.addresses.airflow_url}/api/v2{path}",
            headers={"Authorization": f"Bearer {token}"},
            timeout=30,
            **kwargs,
        )

    def successful_runs(self, dag_id: str) -> list[str]:
        response = httpx.get(
            f"{self.addresses.airflow_url}/api/v2/dags/{dag_id}/dagRuns",
            headers={"Authorization": f"Bearer {self.airflow_token()}"},
            timeout=30,
        )
        assert response.status_code == 200, response.text
        return [r["dag_run_id"] for r in response.json()["dag_runs"] if r["state"] == "success"]


def compose_config(root: Path, env_file: Path, *files: str) -> subprocess.CompletedProcess[str]:
    arguments = [arg for name in files for arg in ("-f", f"deployment/{name}")]
    return subprocess.run(
        [str(root / ".venv" / "bin" / "podman-compose"), *arguments, "--env-file", str(env_file),
         "config"],
        cwd=root, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip


def write_env_file(path: Path) -> Path:
    """Generated secrets (as `compose up` writes them) and free loopback ports."""
    text = generated_env_text(example_file().read_text(), podman_socket())
    ports = {name: free_port() for name in ("AIRFLOW", "MLFLOW", "SERVING", "PROMETHEUS")}
    text += "".join(f"{name}_PUBLISH=127.0.0.1:{port}\n" for name, port in ports.items())
    text += f"AIRFLOW_BASE_URL=http://127.0.0.1:{ports['AIRFLOW']}\n"
    path.write_text(text)
    return path


@pytest.fixture(scope="module")
def stack(
    engine: Any, images: dict[str, str], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Stack]:
    """`compose demo` from an empty stack (no containers, no volumes); torn down afterwards."""
    missing = [
        name
        for name in COMPOSE_IMAGES
        if engine.podman("image", "exists", f"driver-ranking-{name}:latest").returncode
    ]
    if missing:
        pytest.skip(f"compose images not built ({', '.join(missing)}): build_images.sh compose")
    env_file = write_env_file(tmp_path_factory.mktemp("compose") / "compose.env")
    empty = Stack(engine.root, env_file, stack_addresses(read_env_file(env_file)), None)  # type: ignore[arg-type]
    # Nothing of an earlier stack or of the containers platform may remain.
    engine.script("platform.sh", "purge")
    assert empty.cli("down", "--volumes").returncode == 0
    empty.demo = empty.cli("demo", timeout=3600)
    yield empty
    empty.cli("down", "--volumes")


def test_compose_config_validates_with_and_without_the_local_override(
    engine: Any, tmp_path: Path
) -> None:
    env_file = write_env_file(tmp_path / "compose.env")

    default = compose_config(engine.root, env_file, "docker-compose.yml")
    local = compose_config(engine.root, env_file, "docker-compose.yml", "docker-compose.local.yml")
    unset = compose_config(engine.root, Path("/dev/null"), "docker-compose.yml")

    assert default.returncode == 0, default.stderr
    assert "image: postgres:16-bookworm" in default.stdout
    assert local.returncode == 0, local.stderr
    assert "image: driver-ranking-postgres:latest" in local.stdout
    assert "postgres:16-bookworm" not in local.stdout
    # No secret has a default: without the env file compose refuses and names one.
    assert unset.returncode != 0
    assert "in deployment/.env" in unset.stdout + unset.stderr


def test_compose_demo_runs_every_dag_and_serves_the_champion(stack: Stack) -> None:
    output = stack.demo.stdout + stack.demo.stderr
    assert stack.demo.returncode == 0, output[-4000:]
    for dag_id in ("data_pipeline", "materialize", "training_pipeline", "batch_serving_pipeline"):
        assert f"{dag_id}: success" in output
    champion = stack.champion()
    assert f"champion version {champion}" in output
    assert stack.addresses.airflow_password in output  # the login is printed


def test_dag_tasks_ran_as_containers_on_the_stack_volume(engine: Any, stack: Stack) -> None:
    assert stack.demo.returncode == 0
    summary = engine.batch_summary()
    assert summary["rows_predicted"] > 0
    assert summary["model_version"] == stack.champion()


def test_each_service_refuses_a_caller_without_credentials(engine: Any, stack: Stack) -> None:
    assert stack.demo.returncode == 0
    a = stack.addresses
    # Airflow: the REST API wants a token.
    assert httpx.get(f"{a.airflow_url}/api/v2/dags", timeout=30).status_code == 401
    token = stack.airflow_token()
    authorized = httpx.get(
        f"{a.airflow_url}/api/v2/dags", headers={"Authorization": f"Bearer {token}"}, timeout=30
    )
    assert authorized.status_code == 200
    # MLflow: the basic-auth app.
    search = f"{a.mlflow_url}/api/2.0/mlflow/experiments/search?max_results=10"
    assert httpx.get(search, timeout=30).status_code == 401
    assert httpx.get(search, auth=(a.mlflow_user, "wrong"), timeout=30).status_code == 401
    assert httpx.get(search, auth=(a.mlflow_user, a.mlflow_password), timeout=30).is_success
    # Redis: requirepass (its port is not published; asked from inside its container).
    redis = engine.podman("exec", "driver-ranking_redis_1", "redis-cli", "get", "x")
    assert "NOAUTH" in redis.stdout + redis.stderr
    authed = engine.podman(
        "exec", "-e", f"REDISCLI_AUTH={stack_password(stack, 'REDIS_PASSWORD')}",
        "driver-ranking_redis_1", "redis-cli", "ping",
    )  # fmt: skip
    assert authed.stdout.strip() == "PONG"
    # The online service: the API key.
    assert stack.inference(None).status_code == 401
    assert stack.inference("wrong").status_code == 401
    assert stack.inference(a.serving_api_key).status_code == 200


def test_airflow_viewer_reads_but_cannot_trigger_and_the_admin_can(stack: Stack) -> None:
    """The FAB auth manager's roles from .env: Viewer reads, only Admin starts a run. The DAG
    triggered is `monitoring`, which the demo leaves paused: the run is created, never started,
    and deleted again."""
    assert stack.demo.returncode == 0
    viewer, admin = stack.airflow_token(viewer=True), stack.airflow_token()
    trigger = {"json": {"logical_date": None, "conf": {}}}

    listed = stack.airflow("GET", "/dags", viewer)
    runs = stack.airflow("GET", "/dags/data_pipeline/dagRuns", viewer)
    refused = stack.airflow("POST", "/dags/monitoring/dagRuns", viewer, **trigger)
    unpause = stack.airflow("PATCH", "/dags/monitoring", viewer, json={"is_paused": False})
    started = stack.airflow("POST", "/dags/monitoring/dagRuns", admin, **trigger)

    assert listed.status_code == 200, listed.text
    assert {"data_pipeline", "monitoring"} <= {d["dag_id"] for d in listed.json()["dags"]}
    assert runs.status_code == 200, runs.text
    assert runs.json()["dag_runs"]
    assert refused.status_code == 403, refused.text
    assert unpause.status_code == 403, unpause.text
    assert started.status_code == 200, started.text
    run_id = started.json()["dag_run_id"]
    assert stack.airflow("DELETE", f"/dags/monitoring/dagRuns/{run_id}", admin).status_code == 204
    # A wrong password gets no token.
    wrong = httpx.post(
        f"{stack.addresses.airflow_url}/auth/token",
        json={"username": stack.addresses.airflow_viewer, "password": "wrong"},
        timeout=30,
    )
    assert wrong.status_code == 401


def test_prometheus_scrapes_the_service_and_the_tasks_pushes(stack: Stack) -> None:
    """The stack's Prometheus (Debian's package here) scrapes the serving container and the
    pushgateway the DAG tasks pushed to (materialize's freshness); its alert rules loaded."""
    assert stack.demo.returncode == 0
    url = f"http://{read_env_file(stack.env_file)['PROMETHEUS_PUBLISH']}"

    def scraped() -> dict[str, str] | None:
        active = httpx.get(f"{url}/api/v1/targets", timeout=10).json()["data"]["activeTargets"]
        health = {t["labels"]["job"]: t["health"] for t in active}
        return health if health.get("online-service") == health.get("pushgateway") == "up" else None

    health = wait_for(
        scraped,
        timeout=120,
        interval=3,
        ignore=(httpx.HTTPError,),
        timeout_error=lambda: AssertionError("Prometheus did not scrape serving and pushgateway"),
    )
    assert health["online-service"] == "up"
    query = "driver_ranking_materialization_end_timestamp_seconds"
    result = httpx.get(f"{url}/api/v1/query", params={"query": query}, timeout=10).json()
    assert result["data"]["result"], "materialize pushed its freshness"
    rules = httpx.get(f"{url}/api/v1/rules", timeout=10).json()["data"]["groups"]
    assert {rule["name"] for group in rules for rule in group["rules"]} >= {"FeatureDrift"}


def stack_password(stack: Stack, key: str) -> str:
    return read_env_file(stack.env_file)[key]


def uses_celery(stack: Stack) -> bool:
    return read_env_file(stack.env_file).get("AIRFLOW_EXECUTOR") == "CeleryExecutor"


def restart_with_celery(stack: Stack) -> None:
    """`down`, the env file switched to the CeleryExecutor (two workers by default), `up`.
    A task whose worker dies is failed and retried after 60 s without heartbeat (300 s by
    default), so that the kill test does not wait five minutes."""
    down = stack.cli("down")
    assert down.returncode == 0, down.stderr
    assert stack.cli("status").returncode == 1  # really down
    with stack.env_file.open("a") as env:
        env.write("AIRFLOW_EXECUTOR=CeleryExecutor\nAIRFLOW_TASK_HEARTBEAT_TIMEOUT_SECONDS=60\n")
    up = stack.cli("up")
    assert up.returncode == 0, up.stdout[-2000:] + up.stderr[-3000:]


def test_state_survives_down_and_up(stack: Stack) -> None:
    """Down, then up again (with the Celery workers: a change of executor is such a restart)."""
    assert stack.demo.returncode == 0
    before = stack.inference(stack.addresses.serving_api_key).json()
    champion = stack.champion()
    runs = stack.successful_runs("training_pipeline")
    assert runs

    restart_with_celery(stack)

    # Nothing was re-run: the registry, the alias, the run history and the online features
    # (Redis's append-only file) are the ones from before; serving loads the same champion.
    assert stack.champion() == champion
    assert stack.successful_runs("training_pipeline") == runs
    ready = stack.cli("status", "--wait")  # serving too, once it has loaded the champion
    assert ready.returncode == 0, ready.stdout + ready.stderr[-2000:]
    after = stack.inference(stack.addresses.serving_api_key).json()
    assert after["model_version"] == before["model_version"] == champion
    assert after["missing_driver_ids"] == []
    assert after["best_driver_id"] == before["best_driver_id"]


def celery_workers(engine: Any, stack: Stack) -> dict[str, str]:
    """The running Celery worker containers, name -> hostname (the stack switched to the
    CeleryExecutor first when the state test has not done it: a test run alone with -k)."""
    if not uses_celery(stack):
        restart_with_celery(stack)
    names = engine.podman(
        "ps", "--filter", "label=com.docker.compose.service=airflow-worker",
        "--format", "{{.Names}}",
    ).stdout.split()  # fmt: skip
    return {
        name: engine.podman("inspect", name, "--format", "{{.Config.Hostname}}").stdout.strip()
        for name in names
    }


def host(hostname: str | None) -> str:
    """A task instance's recorded hostname without a domain (the container's hostname)."""
    return (hostname or "").split(".")[0]


def test_a_dag_run_completes_on_a_compose_celery_worker(engine: Any, stack: Stack) -> None:
    """The `celery` profile: two worker containers; a run of `materialize` is executed by them
    (each task instance's hostname is a worker container's, its queue Celery's default)."""
    assert stack.demo.returncode == 0
    workers = celery_workers(engine, stack)
    hostnames = set(workers.values())
    assert len(workers) == 2, workers
    assert len(hostnames) == 2, hostnames

    a = stack.addresses
    client = AirflowClient(a.airflow_url, a.airflow_user, a.airflow_password)
    try:
        run_id = client.trigger("materialize")
        result = client.wait_for_run("materialize", run_id, timeout=900)
        instances = stack.airflow(
            "GET", f"/dags/materialize/dagRuns/{run_id}/taskInstances", stack.airflow_token()
        ).json()["task_instances"]
    finally:
        client.close()

    assert result.state == "success", result.task_states
    assert {ti["task_id"] for ti in instances} == {"feast_apply", "materialize"}
    for ti in instances:
        assert host(ti["hostname"]) in hostnames, (ti["hostname"], hostnames)
        assert ti["queue"] == "default"


def test_a_celery_worker_killed_mid_task_has_the_task_retried_on_the_other(
    engine: Any, stack: Stack
) -> None:
    """SIGKILL (`podman kill`) to the worker running a task of `materialize`: its runner stops
    heartbeating, the scheduler fails that try after the heartbeat timeout and retries it (the
    DAG tasks' retries), the surviving worker runs the retry, and the run succeeds. podman does
    not restart a killed container, so the retry cannot land on the killed worker; it is
    started again at the end for the tests after this one."""
    assert stack.demo.returncode == 0
    workers = celery_workers(engine, stack)
    assert len(workers) == 2, workers
    by_host = {hostname: name for name, hostname in workers.items()}
    a = stack.addresses
    client = AirflowClient(a.airflow_url, a.airflow_user, a.airflow_password)
    killed: str | None = None
    try:
        run_id = client.trigger("materialize")
        path = f"/dags/materialize/dagRuns/{run_id}/taskInstances"
        token = stack.airflow_token()

        def running() -> dict[str, Any] | None:
            instances = stack.airflow("GET", path, token).json()
            for ti in instances["task_instances"]:
                if ti["state"] == "running" and host(ti["hostname"]) in by_host:
                    return dict(ti)
            return None

        first = wait_for(
            running,
            timeout=600,
            interval=0.5,
            timeout_error=lambda: AssertionError("no task of the run started on a worker"),
        )
        killed = by_host[host(first["hostname"])]
        assert engine.podman("kill", "--signal", "KILL", killed).returncode == 0
        result = client.wait_for_run("materialize", run_id, timeout=1200)
        tries = stack.airflow("GET", f"{path}/{first['task_id']}/tries", token).json()

    finally:
        client.close()
        if killed is not None:
            engine.podman("start", killed)

    assert result.state == "success", result.task_states
    survivor = next(hostname for name, hostname in workers.items() if name != killed)
    by_try = {t["try_number"]: t for t in tries["task_instances"]}
    assert host(by_try[1]["hostname"]) == workers[killed]
    assert by_try[1]["state"] != "success"
    last = by_try[max(by_try)]
    assert max(by_try) >= 2
    assert last["state"] == "success"
    assert host(last["hostname"]) == survivor


def test_a_crashed_service_comes_back_by_its_restart_policy(engine: Any, stack: Stack) -> None:
    assert stack.demo.returncode == 0
    container = "driver-ranking_redis_1"

    def restarts() -> int:
        out = engine.podman("inspect", container, "--format", "{{.RestartCount}}").stdout
        return int(out.strip())

    before = restarts()
    pid = engine.podman("inspect", container, "--format", "{{.State.Pid}}").stdout.strip()
    # A crash: the main process dies (SIGKILL from the host). `podman kill` would not do:
    # podman counts it as a stop by the user, like `podman stop`, and never restarts then.
    subprocess.run(["kill", "-9", pid], check=True)

    # Only podman brings it back here: `status --wait` looks (runs the health checks) and waits.
    status = stack.cli("status", "--wait")
    assert status.returncode == 0, status.stdout + status.stderr[-2000:]
    assert restarts() == before + 1
    # Its append-only file brought the online features back.
    response = stack.inference(stack.addresses.serving_api_key)
    assert response.status_code == 200, response.text
    assert response.json()["missing_driver_ids"] == []
