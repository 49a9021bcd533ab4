"""Undo a side effect of pytest's importlib mode on the repository's package folders."""

from __future__ import annotations

import importlib
import sys


def prefer_installed_package(name: str) -> None:
    """Put the installed package NAME back in `sys.modules` for a pipeline's own tests.

    Importing `<pipeline>/tests/conftest.py`, pytest registers the folder `<pipeline>/` as a
    namespace package of the same name as the installed package (`<pipeline>/src/<pipeline>`),
    which then hides it. Call this at the top of the pipeline's conftest.
    """
    module = sys.modules.get(name)
    if module is not None and getattr(module, "__file__", None) is None:
        del sys.modules[name]
    importlib.import_module(name)


# Packages whose import costs seconds here; a task should import only those it uses.
HEAVY_PACKAGES = (
    "feast",
    "mlflow",
    "mlflow.pyfunc",
    "sklearn",
    "skops",
    "pandas",
    "pandera",
    "matplotlib",
    "bentoml",
)

_PROBE = """
import json, sys
module, *argv = sys.argv[1:]
sys.argv = [module, *argv]
code = 0
try:
    __import__(module, fromlist=["app"]).app()
except SystemExit as exc:
    code = exc.code if isinstance(exc.code, int) else 1
heavy = sorted(name for name in json.loads({heavy!r}) if name in sys.modules)
print("IMPORTS " + json.dumps({{"code": code, "heavy": heavy}}))
"""


def command_imports(cli_module: str, *args: str, timeout: float = 600) -> tuple[int, list[str]]:
    """Run the Typer app of CLI_MODULE with ARGS in a fresh interpreter (the test's
    environment); its exit code and which of `HEAVY_PACKAGES` it imported."""
    import json
    import subprocess

    probe = _PROBE.format(heavy=json.dumps(HEAVY_PACKAGES))
    result = subprocess.run(
        [sys.executable, "-c", probe, cli_module, *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    lines = [line for line in result.stdout.splitlines() if line.startswith("IMPORTS ")]
    if not lines:
        raise AssertionError(f"{cli_module} {args} printed no report:\n{result.stderr[-3000:]}")
    report = json.loads(lines[-1].removeprefix("IMPORTS "))
    return int(report["code"]), list(report["heavy"])
