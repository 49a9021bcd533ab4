from pathlib import Path

import pytest
from mlops_common.files import atomic_path, read_json, write_json
from mlops_common.paths import safe_name


def test_write_json_round_trips_and_leaves_no_temp_files(tmp_path: Path) -> None:
    target = tmp_path / "nested" / "out.json"
    write_json(target, {"b": 1, "a": [1, 2]})
    assert read_json(target) == {"a": [1, 2], "b": 1}
    assert [p.name for p in target.parent.iterdir()] == ["out.json"]


def test_failed_atomic_write_keeps_the_old_file(tmp_path: Path) -> None:
    target = tmp_path / "out.txt"
    target.write_text("old")

    def write_half_then_fail() -> None:
        with atomic_path(target) as tmp:
            tmp.write_text("half")
            raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        write_half_then_fail()
    assert target.read_text() == "old"
    assert list(tmp_path.iterdir()) == [target]


def test_safe_name_makes_airflow_run_ids_path_safe() -> None:
    assert safe_name("manual__2026-11-22T06:00:00+00:00") == "manual__2026-11-22T06_00_00_00_00"
    with pytest.raises(ValueError, match="no usable"):
        safe_name("::")


def test_temporary_files_of_killed_writers_are_removed_by_the_next_write(tmp_path: Path) -> None:
    """A writer SIGKILLed inside `atomic_path` leaves its temporary file (its `finally` never
    runs); the next write of the same target removes it, but never a live writer's."""
    import signal
    import subprocess
    import sys

    target = tmp_path / "out.txt"
    script = (
        "import os, signal, sys\n"
        "from pathlib import Path\n"
        "from mlops_common.files import atomic_path\n"
        "with atomic_path(Path(sys.argv[1])) as tmp:\n"
        "    tmp.write_text('half')\n"
        "    print('writing', flush=True)\n"
        "    sys.stdin.read()\n"
    )
    killed = subprocess.Popen(
        [sys.executable, "-c", script, str(target)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    live = subprocess.Popen(
        [sys.executable, "-c", script, str(target)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        for writer in (killed, live):
            assert writer.stdout is not None
            assert writer.stdout.readline() == "writing\n"
        killed.send_signal(signal.SIGKILL)
        killed.wait(timeout=30)
        assert len(list(tmp_path.iterdir())) == 2, "both temporary files, no target"

        write_json(target, {"done": True})

        names = sorted(p.name for p in tmp_path.iterdir())
        assert len(names) == 2, "the live writer's file is kept"
        assert "out.txt" in names
        assert read_json(target) == {"done": True}
    finally:
        live.kill()
        live.wait(timeout=30)
