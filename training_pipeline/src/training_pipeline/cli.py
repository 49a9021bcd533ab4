"""`training-pipeline`: one command per DAG task, each keyed by the run id it works under."""

from __future__ import annotations

import typer
from feature_store.apply import feast_apply_command
from mlops_common.errors import UserError, cli_app
from mlops_common.logs import configure_logging

app = cli_app(
    "Point-in-time training data -> logistic regression -> gated MLflow registration.",
    no_args_is_help=True,
)

app.command("feast-apply")(feast_apply_command)

# BashOperator's (and DockerOperator's) default `skip_on_exit_code`: the task ends skipped.
QUIET_EXIT_CODE = 99

RunId = typer.Option(..., "--run-id", help="The DAG run (or any name) this run's files go under.")


@app.callback()
def main() -> None:
    """Configure logging for every command."""
    configure_logging()


@app.command()
def extract(run_id: str = RunId) -> None:
    """Join labelled orders to point-in-time features from the feature service."""
    from training_pipeline.extract import extract_training_set

    typer.echo(extract_training_set(run_id))


@app.command()
def validate(run_id: str = RunId) -> None:
    """Check the training set's schema, labels and null shares."""
    from training_pipeline.validate import validate_training_set

    report = validate_training_set(run_id)
    typer.echo(f"valid: {report.rows} rows, null share {report.null_share}")


@app.command()
def prepare(run_id: str = RunId) -> None:
    """Drop rows without features and split train/test deterministically."""
    from training_pipeline.prepare import prepare_splits

    summary = prepare_splits(run_id)
    typer.echo(
        f"{summary.train_rows} train / {summary.test_rows} test rows "
        f"({summary.rows_dropped_null_features} dropped for null features)"
    )


@app.command()
def train(run_id: str = RunId) -> None:
    """Fit the elastic-net logistic regression and log it to MLflow."""
    from training_pipeline.train import train_model

    typer.echo(train_model(run_id).model_uri)


@app.command()
def evaluate(run_id: str = RunId) -> None:
    """Score the model and the constant baseline on the held-out split."""
    from training_pipeline.evaluate import evaluate_model

    evaluation = evaluate_model(run_id)
    typer.echo(" ".join(f"{k}={v:.4f}" for k, v in evaluation.model.items()))


@app.command()
def register(run_id: str = RunId) -> None:
    """Apply the release gates; register the model and move `champion` (or `challenger` with
    PROMOTION_MODE=shadow) when it beats the champion."""
    from training_pipeline.register import register_model

    typer.echo(register_model(run_id).decision)


@app.command()
def publish(
    run_id: str = RunId,
    role: str = typer.Option(
        "champion", help="The alias whose move is published: champion or challenger."
    ),
) -> None:
    """Succeed when this run's register moved the ROLE alias (the DAG task then emits that
    asset's event); otherwise exit 99, which ends the task skipped, with no event."""
    from training_pipeline.run_files import RunFiles

    if role not in ("champion", "challenger"):
        raise UserError(f"--role {role!r}: use champion or challenger")
    report = RunFiles.of(run_id).gate_report()
    version = report.published_version(role)
    if version is None:
        typer.echo(f"nothing to publish as {role}: {report.decision}")
        raise typer.Exit(QUIET_EXIT_CODE)
    typer.echo(f"{report.model_name} version {version} is {role}")


@app.command("backfill-reference")
def backfill_reference_command(
    model_version: str = typer.Option(..., help="Registered model version to backfill."),
) -> None:
    """Log the monitoring reference for a model version registered without one."""
    from training_pipeline.reference import backfill_reference

    typer.echo(f"reference logged to MLflow run {backfill_reference(model_version)}")


@app.command()
def run(run_id: str = RunId) -> None:
    """Every task in order, in this process (what the DAG does, without Airflow)."""
    feast_apply_command(run_id=run_id)
    for step in (extract, validate, prepare, train, evaluate, register):
        step(run_id=run_id)
