"""How `make test` spreads the suite over pytest-xdist workers (`--dist loadfile`): each test
file whole on one worker, so its module fixtures (a platform, a served model, a DAG run) start
once, and the end-to-end files together on one worker, so the demo runs once.

Written here because xdist's own way to group files, `--dist loadgroup` with `xdist_group`
marks, has no effect with pytest 9: xdist 3.8 sets `item._nodeid`, which pytest 9's `nodeid`
no longer reads.
"""

from __future__ import annotations

from typing import Any

import pytest

# Folders whose test files share one session fixture (the e2e files: one platform, one demo).
SHARED_SESSION_DIRS = frozenset({"e2e"})


def work_unit(nodeid: str) -> str:
    """The unit of work NODEID belongs to: its file, or the SHARED_SESSION_DIRS folder (with
    every file under it) that holds it."""
    path = nodeid.split("::", 1)[0]
    parts = path.split("/")
    for depth, folder in enumerate(parts[:-1], start=1):
        if folder in SHARED_SESSION_DIRS:
            return "/".join(parts[:depth]) + "/"
    return path


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    """With `--dist loadfile`, xdist's scope scheduler over `work_unit`; otherwise xdist's own."""
    if config.getvalue("dist") != "loadfile":
        return None
    from xdist.scheduler import LoadScopeScheduling

    class FileScheduling(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            return work_unit(nodeid)

    return FileScheduling(config, log)
