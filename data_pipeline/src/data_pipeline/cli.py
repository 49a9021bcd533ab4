"""`data-pipeline`: the data pipeline's commands (each DAG task runs one of them)."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from pathlib import Path

import typer
from feature_store.apply import feast_apply_command
from mlops_common.errors import UserError, cli_app, parse_time
from mlops_common.logs import configure_logging

app = cli_app(__doc__, no_args_is_help=True)
app.command("feast-apply")(feast_apply_command)
logger = logging.getLogger(__name__)

RunId = typer.Option(..., "--run-id", help="The DAG run (keys the run's artifact directory).")


@app.callback()
def main() -> None:
    """Generate, validate and publish driver statistics; apply Feast; materialize to Redis."""
    configure_logging()


@app.command()
def generate(
    n_drivers: int | None = typer.Option(None, min=5, help="Drivers (default: settings)."),
    days: int | None = typer.Option(None, min=1, help="Hourly window length in days."),
    end_time: str | None = typer.Option(None, help="Last hourly row (ISO, default: now)."),
    n_orders: int | None = typer.Option(None, min=10, help="Labelled orders."),
    n_batch_requests: int | None = typer.Option(None, min=1, help="Batch request rows."),
    seed: int | None = typer.Option(None, help="Random seed (default: settings)."),
    output_dir: Path | None = typer.Option(None, help="Default: the settings' data paths."),
) -> None:
    """Generate driver statistics, labelled orders and batch requests (deterministic)."""
    from data_pipeline.generate import generate as run

    written = run(
        n_drivers=n_drivers,
        days=days,
        end_time=parse_time(end_time, "--end-time"),
        n_orders=n_orders,
        n_batch_requests=n_batch_requests,
        seed=seed,
        output_dir=output_dir,
        progress=True,
    )
    for path in (written.driver_stats, written.orders, written.batch_requests, written.summary):
        typer.echo(str(path))


@app.command()
def ingest(
    run_id: str = RunId,
    end_time: str = typer.Option(..., help="The run's logical time (ISO); floored to the hour."),
) -> None:
    """Land a raw batch in the run's directory (not yet published)."""
    from data_pipeline.ingest import ingest as run

    written = run(run_id, parse_time(end_time, "--end-time"), progress=True)  # type: ignore[arg-type]
    typer.echo(str(written.driver_stats.parent))


@app.command()
def validate(run_id: str = RunId) -> None:
    """Validate the run's raw batch and publish it as the offline store if it passes."""
    from data_pipeline.validate import validate_and_publish

    for path in validate_and_publish(run_id).values():
        typer.echo(str(path))


# BashOperator's (and DockerOperator's) default `skip_on_exit_code`: the task ends skipped.
QUIET_EXIT_CODE = 99


@app.command("collect-labels")
def collect_labels(
    run_id: str = RunId,
    end_time: str | None = typer.Option(
        None, help="End of the window (ISO); DAGs pass the run's time; default: now."
    ),
) -> None:
    """Served dispatches whose outcome arrived -> labelled training rows (new ones only).
    Exits 99 (the task ends skipped, no `labels` event) when nothing new was labelled."""
    from data_pipeline.labels import collect_labels as run

    report = run(run_id, parse_time(end_time, "--end-time") or datetime.now(UTC))
    counts = report.counts
    typer.echo(
        f"{report.written} new labelled dispatches ({counts.joined} joined, "
        f"{report.already_labelled} already labelled, {counts.late} late, "
        f"{counts.duplicates} duplicates, {counts.unknown_request} unknown, "
        f"{counts.driver_mismatch} mismatched) -> {report.output or 'nothing written'}"
    )
    if not report.written:
        raise typer.Exit(QUIET_EXIT_CODE)


@app.command("maintain-datasets")
def maintain_datasets(
    run_id: str = RunId,
    now: str | None = typer.Option(
        None, help="The run's time (ISO); DAGs pass the run's time; default: now."
    ),
) -> None:
    """Compact the closed hours of the prediction log, outcomes and labelled dispatches; delete
    the days past their retention."""
    from data_pipeline.maintain import maintain_datasets as run

    for result in run(run_id, parse_time(now, "--now") or datetime.now(UTC)):
        typer.echo(
            f"{result.dataset}: {result.compacted_hours} hour(s) compacted "
            f"({result.files_before} files, {result.rows} rows), "
            f"{len(result.expired_days)} day(s) expired {result.expired_days or ''}".rstrip()
        )


@app.command()
def materialize(
    end_time: str | None = typer.Option(
        None, help="Materialize up to this time (ISO). DAGs pass the run's time; default: now."
    ),
    engine: str = typer.Option(
        "fast",
        help="fast (default), feast (Feast's own path) or spark (Feast's Spark compute engine; "
        "needs FEAST_OFFLINE_STORE=spark).",
    ),
    run_id: str | None = typer.Option(None, "--run-id", help="The DAG run (for the logs)."),
) -> None:
    """Load the latest in-window feature rows into Redis, incrementally (registry intervals)."""
    from feature_store.feast_internals import feast_type_checks_skipped

    # The views come from the registry: Feast's import-time type checks cost 4-5 s for nothing.
    with feast_type_checks_skipped():
        from data_pipeline.materialize import ENGINES
        from data_pipeline.materialize import materialize as run

        if engine not in ENGINES:
            raise UserError(f"--engine {engine!r} is not known; use one of {', '.join(ENGINES)}")
        end = parse_time(end_time, "--end-time") or datetime.now(UTC)
        results = run(end, engine=engine)
    for result in results:
        typer.echo(
            f"{result.feature_view}: {result.rows} rows [{result.start.isoformat()}, "
            f"{result.end.isoformat()}] in {result.seconds:.2f} s with {result.engine}"
        )
    logger.info("materialize done for run %s", run_id)


@app.command()
def simulate(
    service_url: str = typer.Option("http://127.0.0.1:3000", help="The online service."),
    duration: float = typer.Option(60.0, min=1, help="Seconds of traffic."),
    rate: float = typer.Option(10.0, min=0.1, help="Requests per second."),
    candidates: int = typer.Option(5, min=1, help="Candidate drivers per request."),
    scenario: str = typer.Option(
        "stable",
        help="stable, drift (statistics shifted), concept (completion function changed) or "
        "stale (new statistics in the offline store, not materialized).",
    ),
    drift_at: str | None = typer.Option(
        None, help="When the drift or the concept change starts (ISO); default now."
    ),
    outcome_delay: float = typer.Option(5.0, min=0, help="Seconds until a trip's outcome."),
    seed: int = typer.Option(0, help="Seed of the candidates and outcome draws."),
    api_key: str | None = typer.Option(None, envvar="SERVING_API_KEY", help="X-API-Key."),
) -> None:
    """Send real requests to the online service and write each dispatch's outcome."""
    from data_pipeline.scenarios import SCENARIOS
    from data_pipeline.simulate import simulate as run

    if scenario not in SCENARIOS:
        raise UserError(f"--scenario {scenario!r} is not known; use one of {', '.join(SCENARIOS)}")
    result = run(
        service_url,
        duration_seconds=duration,
        rate=rate,
        candidates=candidates,
        scenario=scenario,
        drift_at=parse_time(drift_at, "--drift-at"),
        outcome_delay_seconds=outcome_delay,
        seed=seed,
        api_key=api_key or None,
    )
    typer.echo(
        f"{result.simulation_id}: {result.requests} requests, {result.answered} answered "
        f"(statuses {result.statuses}), {result.outcomes} outcomes, completion rate "
        f"{result.completion_rate:.2f}"
        + (f", drift applied at {result.drift_applied_at}" if result.drift_applied_at else "")
        + (f", concept changed at {result.concept_changed_at}" if result.concept_changed_at else "")
        + (
            f", new statistics not materialized from {result.stale_from}"
            if result.stale_from
            else ""
        )
    )
