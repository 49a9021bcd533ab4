"""Ingest: land a raw batch of driver statistics, orders and requests in the run's directory.

The generator stands in for the upstream database. Nothing here touches the published offline
store: `validate` checks the batch and publishes it.
"""

from __future__ import annotations

import logging
from datetime import datetime

from data_pipeline.generate import GeneratedData, generate
from data_pipeline.run_files import raw_dir

logger = logging.getLogger(__name__)


def ingest(run_id: str, end_time: datetime, *, progress: bool = False) -> GeneratedData:
    """Write the batch for the hour of END_TIME (the run's logical time) to `raw_dir(run_id)`.

    Idempotent: the same run id and time always write the same files.
    """
    written = generate(end_time=end_time, output_dir=raw_dir(run_id), progress=progress)
    logger.info("ingested the batch ending %s into %s", end_time, written.driver_stats.parent)
    return written
