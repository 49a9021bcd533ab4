"""Logging set-up, called by CLI entry points only (never at import)."""

from __future__ import annotations

import logging
import os

_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def configure_logging(level: str | None = None) -> None:
    """Send log records to stderr at LEVEL (default: MLOPS_LOG_LEVEL or INFO)."""
    resolved = (level or os.environ.get("MLOPS_LOG_LEVEL") or "INFO").upper()
    logging.basicConfig(level=resolved, format=_FORMAT, force=True)
    # Per-request lines from HTTP clients drown the messages that matter.
    for noisy in ("httpx", "httpcore", "urllib3"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
