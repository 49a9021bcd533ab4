"""`model-serving`: the batch serving tasks (one command per DAG task) and the online service."""

from __future__ import annotations

import json
from pathlib import Path
from typing import cast, get_args

import typer
from batch_scoring.settings import Engine
from feature_store.apply import feast_apply_command
from mlops_common.errors import UserError, cli_app
from mlops_common.logs import configure_logging
from online_service.cli import serve_app

app = cli_app("Batch predictions and online serving of the champion model.", no_args_is_help=True)
app.command("feast-apply")(feast_apply_command)

RUN_ID = typer.Option(..., "--run-id", help="The DAG run this task belongs to (output key).")
REQUESTS = typer.Option(
    None,
    "--requests",
    help="Request file (csv or parquet: driver_id, event_timestamp); empty or omitted: "
    "DATA_DIR/batch_requests.parquet.",
)
ENGINE = typer.Option(
    None,
    "--engine",
    help="sorted (numpy sorted search), duckdb (ASOF join), feast (reference) or spark "
    "(Spark: join, spark_udf scoring, partitioned output); empty or omitted: BATCH_ENGINE.",
)


def _engine(value: str | None) -> Engine | None:
    # The DAG passes its `engine` param, "" when unset (then BATCH_ENGINE decides).
    if not value:
        return None
    engines = get_args(Engine)
    if value not in engines:
        raise UserError(f"--engine {value!r} is not known; use one of {', '.join(engines)}")
    return cast(Engine, value)


def _requests_path(value: str | None) -> Path | None:
    # The DAG passes its `requests_path` param, "" when unset.
    return Path(value) if value else None


@app.callback()
def _main() -> None:
    configure_logging()


@app.command("extract")
def extract_command(
    run_id: str = RUN_ID, requests: str | None = REQUESTS, engine: str | None = ENGINE
) -> None:
    """Point-in-time features for every request row, written for the predict task."""
    from batch_scoring.extract import extract_features

    typer.echo(extract_features(run_id, _requests_path(requests), _engine(engine)))


@app.command("predict")
def predict_command(run_id: str = RUN_ID) -> None:
    """Score the extracted rows with models:/<name>@champion; write output and summary."""
    from batch_scoring.predict import predict_batch
    from batch_scoring.run_files import summary_path

    predict_batch(run_id)
    typer.echo(json.dumps(json.loads(summary_path(run_id).read_text()), indent=2))


@app.command("log-predictions")
def log_predictions_command(run_id: str = RUN_ID) -> None:
    """Add the run's predictions to the prediction log (the online log's shape)."""
    from batch_scoring.log_predictions import log_batch_predictions

    typer.echo(f"{log_batch_predictions(run_id)} predictions logged")


@app.command("batch")
def batch_command(
    run_id: str = RUN_ID, requests: str | None = REQUESTS, engine: str | None = ENGINE
) -> None:
    """extract + predict in one process (what the DAG does in two tasks)."""
    from batch_scoring.extract import extract_features
    from batch_scoring.predict import predict_batch
    from batch_scoring.run_files import summary_path

    extract_features(run_id, _requests_path(requests), _engine(engine))
    predict_batch(run_id)
    typer.echo(json.dumps(json.loads(summary_path(run_id).read_text()), indent=2))


app.add_typer(serve_app, name="serve")  # `model-serving serve`: the online service
