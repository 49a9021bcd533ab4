"""`model-serving predict` and `log-predictions` killed (SIGKILL) in the middle of their writes,
then run again as Airflow's retry would (a real Feast registry, a champion in a real MLflow):
no partial file is visible at the instant of the kill, and the retry leaves exactly what an
undisturbed run leaves: the same bytes, no temporary file, no row logged twice."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from batch_scoring.extract import extract_features
from batch_scoring.predict import predict_batch
from batch_scoring.run_files import batch_dir, predictions_path, summary_path
from mlops_common.files import read_json
from mlops_testing import ChampionModel
from mlops_testing.kill_point import stopped_at

pytestmark = [pytest.mark.integration, pytest.mark.slow]

CLI = str(Path(sys.executable).with_name("model-serving"))
RUN = "manual__2026-11-02T08:00:00+00:00"
TIMINGS = {"extract_seconds", "predict_seconds", "seconds", "rows_per_second"}
TIMINGS |= {"data_seconds", "data_rows_per_second"}


def cli(*args: str) -> None:
    done = subprocess.run([CLI, *args], capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout + done.stderr


def summary_without_timings() -> dict[str, object]:
    return {k: v for k, v in read_json(summary_path(RUN)).items() if k not in TIMINGS}


def visible_files(folder: Path) -> list[str]:
    """What a reader listing FOLDER sees (hidden temporary and staging files excluded)."""
    return sorted(
        str(p.relative_to(folder))
        for p in folder.rglob("*")
        if p.is_file() and not any(part.startswith(".") for part in p.relative_to(folder).parts)
    )


def all_files(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file())


@pytest.mark.parametrize(
    ("point", "when"),
    [
        # Inside pyarrow's write of the temporary file: header written, no row group yet.
        ("pyarrow.parquet:ParquetWriter.write_table", "before"),
        # predictions.parquet in place, summary.json not yet written.
        ("batch_scoring.run_files:BatchSummary.write", "before"),
    ],
)
def test_predict_killed_mid_write_then_retried(
    requests_file: Path, champion: ChampionModel, tmp_path: Path, point: str, when: str
) -> None:
    extract_features(RUN)
    predict_batch(RUN)
    expected = {
        "bytes": predictions_path(RUN).read_bytes(),
        "summary": summary_without_timings(),
        "files": all_files(batch_dir(RUN)),
    }
    predictions_path(RUN).unlink()
    summary_path(RUN).unlink()

    with stopped_at(
        point, [CLI, "predict", "--run-id", RUN], when=when, log=tmp_path / "predict.log"
    ):
        for name in visible_files(batch_dir(RUN)):
            if name.endswith(".parquet"):
                pq.read_metadata(batch_dir(RUN) / name)  # every visible file is whole
        if predictions_path(RUN).exists():
            assert predictions_path(RUN).read_bytes() == expected["bytes"], "whole or absent"
    cli("predict", "--run-id", RUN)

    assert predictions_path(RUN).read_bytes() == expected["bytes"]
    assert summary_without_timings() == expected["summary"]
    assert all_files(batch_dir(RUN)) == expected["files"], "no temporary file left"


def logged_rows() -> dict[str, list[dict[str, object]]]:
    """Both datasets of the prediction log, sorted, without the log times (a retry logs later)."""
    from mlops_common.paths import feature_log_dir, scores_log_dir
    from prediction_log.reader import read_feature_log, read_predictions

    predictions = read_predictions(scores_log_dir()).to_pandas()
    features = read_feature_log(feature_log_dir())
    assert features is not None
    from prediction_log import schema

    frames = {
        "predictions": (predictions, schema.REQUEST_ID, [schema.LOGGED_AT]),
        "features": (
            features.to_pandas(),
            schema.LOG_REQUEST_ID,
            [schema.LOG_TIMESTAMP, schema.LOG_DATE],
        ),
    }
    rows = {}
    for name, (frame, key, times) in frames.items():
        frame = frame.drop(columns=times).sort_values(key).reset_index(drop=True)
        rows[name] = frame.astype(object).where(frame.notna(), None).to_dict("records")
    return rows


def log_folders() -> list[Path]:
    from mlops_common.paths import feature_log_dir, scores_log_dir

    return [feature_log_dir(), scores_log_dir()]


@pytest.mark.parametrize(
    ("point", "when", "call", "visible_at_kill"),
    [
        # The feature log's file staged, the scores not yet: nothing visible.
        ("pyarrow.parquet:write_table", "after", 1, [False, False]),
        # The feature log's file renamed into place, the scores' file not yet: the features
        # are visible without their scores until the retry (see the README).
        ("os:replace", "after", 1, [True, False]),
    ],
)
def test_log_predictions_killed_mid_write_then_retried(
    requests_file: Path,
    champion: ChampionModel,
    tmp_path: Path,
    point: str,
    when: str,
    call: int,
    visible_at_kill: list[bool],
) -> None:
    from batch_scoring.log_predictions import log_batch_predictions

    extract_features(RUN)
    predict_batch(RUN)
    log_batch_predictions(RUN)
    expected = {"rows": logged_rows(), "files": [all_files(f) for f in log_folders()]}
    for folder in log_folders():
        shutil.rmtree(folder)

    with stopped_at(
        point,
        [CLI, "log-predictions", "--run-id", RUN],
        when=when,
        call=call,
        log=tmp_path / "log.log",
    ):
        seen = [visible_files(f) if f.exists() else [] for f in log_folders()]
        for folder, names in zip(log_folders(), seen, strict=True):
            for name in names:
                pq.read_table(folder / name)  # every visible file is whole
        assert [bool(names) for names in seen] == visible_at_kill
    cli("log-predictions", "--run-id", RUN)

    assert logged_rows() == expected["rows"], "each row once, as an undisturbed run logs it"
    assert [all_files(f) for f in log_folders()] == expected["files"], "nothing left staged"
