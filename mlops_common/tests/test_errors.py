"""Pipeline CLIs report a user's mistake as one line and exit code 2."""

from __future__ import annotations

import typer
from mlops_common.errors import UserError, cli_app
from typer.testing import CliRunner


def test_a_long_user_error_prints_as_one_line() -> None:
    app = cli_app("test app")
    message = "request file /a/very/long/path/" + "x" * 200 + ".csv: column 'driver_id' is missing"

    @app.command()
    def fail() -> None:
        raise UserError(message)

    @app.command()
    def other() -> None:  # two commands: `fail` is a subcommand, as in the pipeline CLIs
        typer.echo("unused")

    result = CliRunner().invoke(app, ["fail"], terminal_width=80)
    assert result.exit_code == 2
    assert result.output.splitlines() == [f"Error: {message}"]
