"""A supervisord event listener: when a supervised program exits on its own (a crash, a
SIGKILL), kill what is left of its process group before supervisord starts it again.

supervisord starts each program as the leader of its own process group and stops the whole
group on `stop` (`stopasgroup`/`killasgroup`), but when the leader dies by itself it restarts
the program and leaves the children behind: a SIGKILLed Airflow scheduler left its
LocalExecutor workers and its log server running, orphaned, idle for ever, and `down` never
stopped them (`tests/test_platform_scheduler_killed.py`). A task such a worker was running is
killed with them; the new scheduler resets it as an orphan of a dead scheduler (every
AIRFLOW_ORPHANED_TASKS_CHECK_SECONDS) and runs it again (every task is safe to repeat, see
`mlops_airflow.orchestration.pipeline_task`).

Written on supervisor's own event listener protocol (`supervisor.childutils.listener`);
`[eventlistener:reaper]` in `mlops_platform.supervisor` runs it.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import time

from supervisor import childutils

GRACE_SECONDS = 3.0


def group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def reap_group(pgid: int) -> bool:
    """SIGTERM the process group PGID, SIGKILL what is left after a grace; whether any was."""
    if pgid <= 1 or pgid == os.getpgrp() or not group_alive(pgid):
        return False
    try:
        os.killpg(pgid, signal.SIGTERM)
    except ProcessLookupError:
        return False
    deadline = time.monotonic() + GRACE_SECONDS
    while time.monotonic() < deadline and group_alive(pgid):
        time.sleep(0.1)
    if group_alive(pgid):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pgid, signal.SIGKILL)
    return True


def main() -> None:
    while True:
        headers, payload = childutils.listener.wait(sys.stdin, sys.stdout)
        if headers.get("eventname") == "PROCESS_STATE_EXITED":
            event, _ = childutils.eventdata(payload + "\n")
            pid = int(event.get("pid", 0))
            if reap_group(pid):
                print(
                    f"{event.get('processname')} (pid {pid}) exited; its process group killed",
                    file=sys.stderr,
                    flush=True,
                )
        childutils.listener.ok(sys.stdout)


if __name__ == "__main__":
    main()
