"""The hostname Airflow records for a task instance (`[core] hostname_callable`).

Several Celery workers on one machine share its FQDN; the local platform gives each worker's
processes `MLOPS_WORKER_HOSTNAME` (its Celery hostname, `worker<N>@<host>`), so the task
instances say which worker ran them. Elsewhere the FQDN, Airflow's default.
"""

from __future__ import annotations

import os
import socket


def worker_hostname() -> str:
    """MLOPS_WORKER_HOSTNAME when the worker sets it, else the machine's FQDN."""
    return os.environ.get("MLOPS_WORKER_HOSTNAME") or socket.getfqdn()
