"""supervisord for the local platform: its configuration, its start, its XML-RPC interface.

supervisord owns the processes (start, stop by process group, restart of a program that exits
unexpectedly, e.g. a SIGKILLed scheduler, log files); its socket, pid file and configuration
live in the state directory. Its event listener `mlops_platform.reaper` kills what is left of
a program's process group when the program died on its own, before the restart.
"""

from __future__ import annotations

import subprocess
import sys
import xmlrpc.client
from pathlib import Path
from typing import Any

from mlops_common.errors import UserError
from mlops_common.settings import project_root

from mlops_platform.processes import wait_for
from mlops_platform.services import Service
from mlops_platform.state import log_file, logs_dir, state_dir


def socket_path() -> Path:
    return state_dir() / "supervisor.sock"


def pid_file() -> Path:
    return state_dir() / "supervisord.pid"


def supervisord_config(programs: list[Service]) -> str:
    """supervisord's configuration for PROGRAMS, logs and socket under the state directory."""
    lines = [
        "[unix_http_server]",
        f"file={socket_path()}",
        "chmod=0700",
        "",
        "[supervisord]",
        f"logfile={logs_dir() / 'supervisord.log'}",
        f"pidfile={pid_file()}",
        f"directory={project_root()}",
        "logfile_maxbytes=5MB",
        "",
        "[rpcinterface:supervisor]",
        "supervisor.rpcinterface_factory = supervisor.rpcinterface:make_main_rpcinterface",
        "",
        "[supervisorctl]",
        f"serverurl=unix://{socket_path()}",
        "",
    ]
    lines += [
        "[eventlistener:reaper]",
        f"command={_supervisor_quote(sys.executable)} -m mlops_platform.reaper",
        "events=PROCESS_STATE_EXITED",
        "autorestart=true",
        f"stderr_logfile={log_file('reaper')}",
        "stderr_logfile_maxbytes=1MB",
        "stderr_logfile_backups=1",
        "",
    ]
    for program in programs:
        command = " ".join(_supervisor_quote(part) for part in program.command)
        lines += [
            f"[program:{program.name}]",
            f"command={command}",
            f"autostart={'true' if program.autostart else 'false'}",
            "autorestart=unexpected",
            "startsecs=3",
            "startretries=1",
            "stopasgroup=true",
            "killasgroup=true",
            f"stopwaitsecs={program.stop_seconds}",
            *(
                [
                    "environment="
                    + ",".join(f'{key}="{value}"' for key, value in program.environment)
                ]
                if program.environment
                else []
            ),
            "redirect_stderr=true",
            f"stdout_logfile={log_file(program.name)}",
            "stdout_logfile_maxbytes=20MB",
            "stdout_logfile_backups=2",
            "",
        ]
    return "\n".join(lines)


def _supervisor_quote(part: str) -> str:
    escaped = part.replace("%", "%%")
    return f'"{escaped}"' if any(c.isspace() for c in escaped) else escaped


def rpc() -> Any:
    """supervisord's XML-RPC interface over its unix socket."""
    from supervisor.xmlrpc import SupervisorTransport

    transport = SupervisorTransport(None, None, serverurl=f"unix://{socket_path()}")
    return xmlrpc.client.ServerProxy("http://127.0.0.1", transport=transport)


def supervisor_running() -> bool:
    if not socket_path().exists():
        return False
    try:
        return bool(rpc().supervisor.getState()["statename"] == "RUNNING")
    except (OSError, xmlrpc.client.Fault):
        return False


def process_states() -> dict[str, dict[str, Any]]:
    """supervisord's process info per program name; empty when supervisord is not running."""
    if not supervisor_running():
        return {}
    return {info["name"]: info for info in rpc().supervisor.getAllProcessInfo()}


def start_supervisord(programs: list[Service], env: dict[str, str]) -> None:
    """Write the configuration for PROGRAMS, start supervisord (it daemonizes), wait for it."""
    config = state_dir() / "supervisord.conf"
    config.write_text(supervisord_config(programs))
    supervisord = Path(sys.executable).parent / "supervisord"
    subprocess.run([str(supervisord), "-c", str(config)], env=env, check=True)
    wait_for(
        supervisor_running,
        timeout=15,
        interval=0.2,
        timeout_error=lambda: UserError(
            f"supervisord did not start in 15 s; log {log_file('supervisord')}"
        ),
    )


def start_program(name: str) -> None:
    """Start NAME under the running supervisord (no wait); starting a running one is a no-op."""
    try:
        rpc().supervisor.startProcess(name, False)
    except xmlrpc.client.Fault as fault:
        if "ALREADY_STARTED" not in fault.faultString:
            raise
