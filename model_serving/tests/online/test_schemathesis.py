"""The published contract holds: `schemathesis run <service>/docs.json --checks all` against a
real `bentoml serve`, every check (response-schema conformance, negative data rejection,
unsupported methods, ...) and every generation mode, with 0 failures."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from .conftest import OnlineEnv

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def test_schemathesis_finds_no_failure(served: str, online_env: OnlineEnv, tmp_path: Path) -> None:
    # A valid body whose drivers have no online features gets the documented 422
    # `no_features`: a valid answer to a valid request, so the positive-data check accepts it
    # next to its defaults. Every check stays on.
    (tmp_path / "schemathesis.toml").write_text(
        "[checks.positive_data_acceptance]\n"
        'expected-statuses = ["2xx", "3xx", "401", "403", "404", "409", "422", "429", "5xx"]\n'
    )
    schemathesis = Path(sys.executable).parent / "schemathesis"
    result = subprocess.run(
        [
            str(schemathesis),
            "run",
            f"{served}/docs.json",
            "--checks",
            "all",
            "--mode",
            "all",
            "--max-examples",
            "40",
            "--workers",
            "1",
            "--request-timeout",
            "10",
            "--report",
            "junit",
            "--report-dir",
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
        timeout=900,
        env={**os.environ, "NO_COLOR": "1"},
        cwd=tmp_path,  # schemathesis writes its cache and reports next to where it runs
        check=False,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-8000:]
    # It really exercised the operations (a run that tests nothing also exits 0).
    assert "7 selected / 7 total" in output, output[-3000:]
    report = "".join(path.read_text() for path in tmp_path.glob("junit*.xml"))
    for operation in ("POST /inference", "POST /rank_bulk/submit", "GET /rank_bulk/get"):
        assert operation in report, operation
