"""The one error type a user can cause and fix: the CLI prints its message, no traceback."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import typer

try:  # Typer >= 0.26 ships its own copy of click and only handles that copy's exceptions.
    from typer._click.exceptions import ClickException as _CliError
except ImportError:  # pragma: no cover - older Typer uses click itself
    from click import ClickException as _CliError  # type: ignore[assignment]


class UserError(_CliError):
    """A problem in the caller's input or setup, with a message naming it and the fix.

    Typer CLIs print `Error: <message>` and exit with code 2 instead of a traceback; library
    callers catch it like any other exception.
    """

    exit_code = 2


def cli_app(help: str | None, **options: Any) -> typer.Typer:
    """A Typer app whose errors (a `UserError`, a bad option) print as one `Error: ...` line
    on stderr: no Rich box wrapping the message over several lines, no pretty traceback.
    Every pipeline CLI is built with it, so task logs hold one greppable line."""
    return typer.Typer(help=help, rich_markup_mode=None, pretty_exceptions_enable=False, **options)


def parse_time(value: str | None, option: str) -> datetime | None:
    """VALUE of the CLI OPTION as a time (ISO 8601); None when not given; a bad value is a
    `UserError` naming OPTION and an example."""
    if not value:
        return None
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        raise UserError(
            f"{option} {value!r} is not an ISO-8601 time; use e.g. 2026-01-31T12:00:00+00:00"
        ) from None
