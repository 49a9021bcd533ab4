"""`make test`'s units of work on its xdist workers: a file each, the e2e folder as one."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from mlops_testing.workers import work_unit


def test_each_test_file_is_one_unit_whatever_its_test() -> None:
    assert work_unit("data_pipeline/tests/test_cli.py::test_a") == "data_pipeline/tests/test_cli.py"
    assert work_unit("data_pipeline/tests/test_cli.py::Suite::test_b[x-1]") == (
        "data_pipeline/tests/test_cli.py"
    )
    assert work_unit("tests/test_k8s.py::test_c") != work_unit("tests/test_platform.py::test_c")


def test_the_end_to_end_files_share_one_unit_and_only_they_do() -> None:
    units = {
        work_unit(f"tests/e2e/{name}::test_x")
        for name in ("test_demo.py", "test_demo_drift.py", "test_browser.py", "sub/test_x.py")
    }
    assert units == {"tests/e2e/"}
    assert work_unit("tests/test_e2e_like.py::test_x") == "tests/test_e2e_like.py"


def test_xdist_runs_the_e2e_files_on_one_worker_with_the_plugin(tmp_path: Path) -> None:
    """A real `pytest -n 2 --dist loadfile` with the plugin, on a throw-away suite: the three
    e2e files on one worker, whatever xdist would do without it."""
    (tmp_path / "e2e").mkdir()
    test = "import time\n\ndef test_one():\n    time.sleep(0.5)\n"
    for name in ("e2e/test_a.py", "e2e/test_b.py", "e2e/test_c.py", "test_x.py", "test_y.py"):
        (tmp_path / name).write_text(test)
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-n", "2", "--dist", "loadfile", "-v",
         "-p", "mlops_testing.workers", "-p", "no:cacheprovider", "--rootdir", str(tmp_path),
         "-c", "/dev/null", str(tmp_path)],
        cwd=tmp_path, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    assert "scheduling tests via FileScheduling" in result.stdout
    workers = dict(
        (path, worker)
        for worker, path in re.findall(r"^\[(gw\d)\] \[.*?\] PASSED (\S+)::", result.stdout, re.M)
    )
    assert len(workers) == 5, result.stdout
    assert len({workers[f"e2e/test_{x}.py"] for x in "abc"}) == 1, workers
