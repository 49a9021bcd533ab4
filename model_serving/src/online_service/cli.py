"""`serve`: start the online service with `bentoml serve`, bound as the settings say.

A Typer sub-app (`serve_app`) for the package CLI to mount; runnable on its own too.
"""

from __future__ import annotations

import logging
import os
import shutil
import sys
from pathlib import Path

import typer
from mlops_common.errors import UserError, cli_app

from online_service.settings import get_online_settings

logger = logging.getLogger(__name__)

SERVICE = "online_service.service:DriverRanking"

serve_app = cli_app("The online BentoML service.", add_completion=False)


def serve_command(host: str | None = None, port: int | None = None) -> list[str]:
    """The `bentoml serve` command line for the service (settings unless overridden)."""
    settings = get_online_settings()
    bentoml = Path(sys.executable).parent / "bentoml"
    if not bentoml.exists():
        found = shutil.which("bentoml")
        if found is None:
            raise UserError("bentoml is not installed in this environment; run `make setup`")
        bentoml = Path(found)
    return [
        str(bentoml),
        "serve",
        SERVICE,
        "--host",
        host or settings.host,
        "--port",
        str(port or settings.port),
    ]


# A callback, not a command: mounted as `model-serving serve`, it runs without a sub-command.
@serve_app.callback(invoke_without_command=True)
def serve(
    host: str = typer.Option(None, help="Bind address (default SERVING_HOST, 127.0.0.1)."),
    port: int = typer.Option(None, help="Port (default SERVING_PORT, 3000)."),
) -> None:
    """Serve POST /inference, Swagger UI at /, /livez, /readyz and /metrics (foreground)."""
    command = serve_command(host, port)
    typer.echo(f"starting: {' '.join(command)}")
    os.execv(command[0], command)  # replace this process: signals reach bentoml directly


if __name__ == "__main__":
    serve_app()
