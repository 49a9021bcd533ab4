"""Kill a pipeline command at a named point of its work, as a crash or an OOM kill would.

`python -m mlops_testing.kill_point [--call N] [--when before|after] MODULE:QUALNAME -- CLI ARGS`
runs the console script CLI (the entry point `.venv/bin/CLI` runs) in this process, with the
callable MODULE:QUALNAME wrapped: at its Nth call (before it runs, or once it returned) the
process stops itself with SIGSTOP. `stopped_at` (the test side) waits for that stop, lets the
test look at the files, Redis and MLflow exactly as they are at that instant, then SIGKILLs the
process. The wrapper is installed when MODULE is first imported (wrapt's post-import hook), so
the command's own lazy imports stay lazy; production code carries no hook and no cost.

Stopping instead of killing directly is what lets a test check "no partial file is visible at
any time" at the worst moment, not only after the fact.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping, Sequence
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

REACHED = "kill point reached:"


class KillPointMissedError(AssertionError):
    """The command ended (or timed out) without reaching its kill point."""


def _halt(point: str) -> None:
    print(f"{REACHED} {point}", file=sys.stderr, flush=True)
    sys.stdout.flush()
    os.kill(os.getpid(), signal.SIGSTOP)
    # Only a SIGCONT gets here; the tests always SIGKILL a stopped command.


def install(point: str, call: int = 1, when: str = "after") -> None:
    """Stop this process at the CALLth call of POINT (`module:qualname`), WHEN before or after."""
    import wrapt

    module, _, qualname = point.partition(":")
    if not module or not qualname:
        raise SystemExit(f"kill point {point!r} is not module:qualname")
    calls = 0

    def wrapper(wrapped: Any, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        nonlocal calls
        calls += 1
        if when == "before" and calls == call:
            _halt(point)
        result = wrapped(*args, **kwargs)
        if when == "after" and calls == call:
            _halt(point)
        return result

    @wrapt.when_imported(module)
    def _wrap(imported: Any) -> None:
        wrapt.wrap_function_wrapper(imported, qualname, wrapper)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m mlops_testing.kill_point")
    parser.add_argument("point", help="module:qualname of the callable to stop at")
    parser.add_argument("--call", type=int, default=1, help="which call (1-based)")
    parser.add_argument("--when", choices=("before", "after"), default="after")
    parser.add_argument("command", nargs=argparse.REMAINDER, help="-- CLI ARGS...")
    args = parser.parse_args(argv)
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not command:
        raise SystemExit("give the command after --, e.g. -- data-pipeline materialize")
    name = Path(command[0]).name  # `data-pipeline` or the path `.venv/bin/data-pipeline`
    found = entry_points(group="console_scripts", name=name)
    if not found:
        raise SystemExit(f"{name!r} is not a console script of this environment")
    install(args.point, args.call, args.when)
    sys.argv = command
    app = next(iter(found)).load()
    sys.exit(app())


@contextlib.contextmanager
def stopped_at(
    point: str,
    command: Sequence[str],
    *,
    log: Path,
    call: int = 1,
    when: str = "after",
    env: Mapping[str, str] | None = None,
    timeout: float = 300,
) -> Iterator[subprocess.Popen[bytes]]:
    """Run COMMAND (a console script and its arguments) until it stops at POINT; yield the
    stopped process, then SIGKILL it. Its output goes to LOG. Raises KillPointMissedError when the
    command ends or times out first."""
    with log.open("wb") as out:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "mlops_testing.kill_point",
                "--call",
                str(call),
                "--when",
                when,
                point,
                "--",
                *command,
            ],
            env=dict(env) if env is not None else None,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + timeout
        while True:
            pid, status = os.waitpid(process.pid, os.WUNTRACED | os.WNOHANG)
            if pid and os.WIFSTOPPED(status):
                break
            if pid:  # it exited: put the status back where Popen looks for it
                process.returncode = os.waitstatus_to_exitcode(status)
                raise KillPointMissedError(
                    f"{' '.join(command)} ended (exit {process.returncode}) before "
                    f"{point}:\n{log.read_text()[-3000:]}"
                )
            if time.monotonic() > deadline:
                raise KillPointMissedError(
                    f"{' '.join(command)} did not reach {point} in {timeout:.0f} s:\n"
                    f"{log.read_text()[-3000:]}"
                )
            time.sleep(0.05)
        yield process
    finally:
        if process.returncode is None:
            process.kill()
            process.wait(timeout=30)


if __name__ == "__main__":
    main()
