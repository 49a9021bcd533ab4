"""The one error type a user can cause and fix: the CLI prints its message, no traceback."""

from __future__ import annotations

import click


class UserError(click.ClickException):
    """A problem in the caller's input or setup, with a message naming it and the fix.

    Being a ClickException, a Typer CLI prints `Error: <message>` and exits with code 2
    instead of a traceback; library callers catch it like any exception.
    """

    exit_code = 2
