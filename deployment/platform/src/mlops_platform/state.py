"""Where the local platform keeps its state: under `MLOPS_STATE_DIR` (logs, data, sockets)."""

from __future__ import annotations

from pathlib import Path

from mlops_common.settings import get_path_settings


def state_dir() -> Path:
    return get_path_settings().state_dir


def logs_dir() -> Path:
    return state_dir() / "logs"


def log_file(service: str) -> Path:
    """The log of one supervised service (or of a one-off step such as the Airflow migration)."""
    return logs_dir() / f"{service}.log"


def log_tail(service: str, lines: int = 20) -> str:
    path = log_file(service)
    if not path.exists():
        return f"(no log at {path})"
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
