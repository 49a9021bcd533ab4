"""The local platform survives its Airflow scheduler being killed mid-DAG: `mlops-platform up`
(LocalExecutor), a data_pipeline run triggered, the scheduler SIGKILLed while a task of the run
is running; supervisord starts a new scheduler, its event listener (`mlops_platform.reaper`)
kills what was left of the old one's process group (its LocalExecutor workers, with the running
task), the new scheduler resets that task as an orphan of a dead scheduler
(AIRFLOW_ORPHANED_TASKS_CHECK_SECONDS) and runs it again, and the run completes."""

from __future__ import annotations

import logging
import os
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from mlops_common.settings import project_root
from mlops_platform.processes import wait_for
from mlops_testing.platform import local_platform
from mlops_testing.platform import platform_client as _client
from mlops_testing.platform import platform_command as run

logger = logging.getLogger(__name__)
SCHEDULER = "airflow-scheduler"


@pytest.fixture(scope="module")
def platform_env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    with local_platform(
        tmp_path_factory.mktemp("platform-scheduler"),
        MLOPS_TASK_RETRY_DELAY_SECONDS="5",
    ) as env:
        yield env


def scheduler_pid(env: dict[str, str]) -> int | None:
    """The scheduler's pid as supervisord reports it (None while it is not running)."""
    out = subprocess.run(
        [
            str(project_root() / ".venv" / "bin" / "supervisorctl"),
            "-c",
            str(Path(env["MLOPS_STATE_DIR"]) / "supervisord.conf"),
            "pid",
            SCHEDULER,
        ],
        capture_output=True,
        text=True,
        check=False,
    ).stdout.strip()
    return int(out) if out.isdigit() and int(out) > 0 else None


@pytest.mark.slow
@pytest.mark.integration
def test_a_killed_scheduler_is_restarted_and_the_run_completes(
    platform_env: dict[str, str],
) -> None:
    up = run(platform_env, "up")
    assert up.returncode == 0, up.stdout + up.stderr
    client = _client(platform_env)
    try:
        client.wait_for_dag("data_pipeline", timeout=180)
        client.unpause("data_pipeline")
        run_id = client.trigger("data_pipeline")
        running = wait_for(
            lambda: (
                [
                    task
                    for task, state in client.task_states("data_pipeline", run_id).items()
                    if state == "running"
                ]
                or None
            ),
            timeout=300,
            interval=0.5,
            timeout_error=lambda: AssertionError("no task of the run started"),
        )
        killed = scheduler_pid(platform_env)
        assert killed is not None
        os.kill(killed, signal.SIGKILL)

        restarted = wait_for(
            lambda: (pid := scheduler_pid(platform_env)) not in (None, killed) and pid,
            timeout=120,
            interval=0.5,
            timeout_error=lambda: AssertionError("supervisord did not restart the scheduler"),
        )
        result = client.wait_for_run("data_pipeline", run_id, timeout=900)
        assert result.state == "success", (running, result.tasks)
        payload = client._request("GET", f"/dags/data_pipeline/dagRuns/{run_id}/taskInstances")
        tries = {ti["task_id"]: ti["try_number"] for ti in payload["task_instances"]}
        logger.info("running at the kill: %s; tries per task: %s", running, tries)
    finally:
        client.close()
    assert scheduler_pid(platform_env) == restarted, "one restart, no crash loop"
    # Nothing of the killed scheduler's process group is left (its executor's workers).
    leftovers = subprocess.run(
        ["pgrep", "-g", str(killed)], capture_output=True, text=True, check=False
    ).stdout.split()
    assert leftovers == [], f"processes of the killed scheduler still run: {leftovers}"
    status = run(platform_env, "status")
    assert status.returncode == 0, status.stdout
    assert "UNHEALTHY" not in status.stdout


def test_the_reaper_kills_what_a_dead_leader_left_in_its_group() -> None:
    """What supervisord's event listener does on PROCESS_STATE_EXITED, on a real process group:
    the leader SIGKILLed, its children (orphaned, still running) are killed too."""
    from mlops_platform.reaper import group_alive, reap_group

    leader = subprocess.Popen(
        ["bash", "-c", "sleep 300 & sleep 300 & echo started; wait"],
        stdout=subprocess.PIPE,
        text=True,
        start_new_session=True,  # its own process group, as supervisord starts a program
    )
    assert leader.stdout is not None
    assert leader.stdout.readline() == "started\n"
    leader.kill()
    leader.wait(timeout=30)
    assert group_alive(leader.pid), "the children outlive their leader"

    assert reap_group(leader.pid)
    wait_for(
        lambda: not group_alive(leader.pid),
        timeout=10,
        interval=0.1,
        timeout_error=lambda: AssertionError("the group survived"),
    )
    assert not reap_group(leader.pid), "nothing left to kill"
