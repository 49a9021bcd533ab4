"""`monitoring-pipeline`: the monitoring DAG's commands."""

from __future__ import annotations

from datetime import UTC, datetime

import typer
from mlops_common.errors import UserError, cli_app, parse_time
from mlops_common.logs import configure_logging

app = cli_app(
    "Judge served traffic against the champion's reference: drift, live AUC, alarms.",
    no_args_is_help=True,
)
RunId = typer.Option(..., "--run-id", help="The DAG run (keys the run's artifact directory).")
# BashOperator's (and DockerOperator's) default `skip_on_exit_code`: the task ends skipped.
QUIET_EXIT_CODE = 99


@app.callback()
def main() -> None:
    """Configure logging for every command."""
    configure_logging()


@app.command()
def monitor(
    run_id: str = RunId,
    window_end: str | None = typer.Option(None, help="End of the window (ISO); default now."),
    window_minutes: int = typer.Option(0, min=0, help="Window length; 0: the setting."),
) -> None:
    """Judge the window ending at WINDOW_END: report, summary, MLflow run, Prometheus."""
    from monitoring_pipeline.monitor import monitor as run

    summary = run(
        run_id, parse_time(window_end, "--window-end") or datetime.now(UTC), window_minutes or None
    )
    typer.echo(summary.message)
    typer.echo(f"alarm: {', '.join(summary.alarm_reasons) or 'none'}; summary: {summary.report}")


@app.command()
def alarm(run_id: str = RunId) -> None:
    """Exit 0 when the run raised an alarm (drift, live AUC below the gate) that should start a
    retraining, else 99 (skip): no alarm, a challenger in shadow or just promoted by the run's
    judgement, or a champion replaced since the window was judged."""
    from mlops_common.champion import champion_or_none

    from monitoring_pipeline.judge import read_report, retraining_held
    from monitoring_pipeline.monitor import summary_path
    from monitoring_pipeline.summary import MonitoringSummary

    path = summary_path(run_id)
    if not path.is_file():
        raise UserError(f"no summary at {path}; run `monitoring-pipeline monitor` first")
    summary = MonitoringSummary.read(path)
    if not summary.alarm:
        typer.echo(f"no alarm: {summary.message}")
        raise typer.Exit(QUIET_EXIT_CODE)
    reasons = f"alarm: {', '.join(summary.alarm_reasons)} ({summary.message})"
    champion = champion_or_none()
    held = retraining_held(
        read_report(run_id), summary.model_version, champion.version if champion else None
    )
    if held:
        typer.echo(f"{reasons}; no retraining: {held}")
        raise typer.Exit(QUIET_EXIT_CODE)
    typer.echo(reasons)


@app.command("judge-challenger")
def judge_challenger_command(
    run_id: str = RunId,
    now: str | None = typer.Option(None, help="Judge the outcomes up to this time (ISO)."),
) -> None:
    """Judge the challenger on its shadowed outcomes; promote, retire or keep it."""
    from monitoring_pipeline.judge import judge_challenger

    report = judge_challenger(run_id, parse_time(now, "--now") or datetime.now(UTC))
    typer.echo(f"{report.decision}: {report.reason}")


@app.command()
def promoted(run_id: str = RunId) -> None:
    """Exit 0 when this run's judgement promoted the challenger (the DAG task then emits the
    champion event), else 99 (skip)."""
    from monitoring_pipeline.judge import read_report

    report = read_report(run_id)
    if report is None:
        raise UserError(
            f"no judgement for run {run_id}; run `monitoring-pipeline judge-challenger` first"
        )
    if not report.promoted:
        typer.echo(f"no promotion: {report.decision}: {report.reason}")
        raise typer.Exit(QUIET_EXIT_CODE)
    typer.echo(f"challenger v{report.challenger_version} promoted to champion")
