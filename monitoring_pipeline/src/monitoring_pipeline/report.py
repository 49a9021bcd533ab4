"""The monitoring run's HTML report (`report.html`): Evidently's drift report, or a short page
when there was nothing to judge, with a section of the run's other figures at the top of the
page (the training-serving skew, the challenger's live comparison)."""

from __future__ import annotations

import html
import re
from collections.abc import Sequence
from pathlib import Path

from mlops_common.files import atomic_path

SECTION_ID = "monitoring-figures"
_SECTION = re.compile(rf"<section id='{SECTION_ID}'>(.*?)</section>", re.DOTALL)


def quiet_page(message: str) -> str:
    """The report of a window with nothing to judge."""
    return (
        "<!doctype html><html><head><meta charset='utf-8'><title>Monitoring</title></head>"
        f"<body><h1>Monitoring</h1><p>{html.escape(message)}</p></body></html>\n"
    )


def with_lines(page: str, lines: Sequence[str], key: str) -> str:
    """PAGE with LINES as the KEY paragraphs of the figures section (created at the top of the
    body; KEY's earlier paragraphs replaced, so re-running a step does not repeat them)."""
    paragraphs = "".join(f"<p data-figures='{key}'>{html.escape(line)}</p>" for line in lines)
    found = _SECTION.search(page)
    if found:
        kept = re.sub(rf"<p data-figures='{key}'>.*?</p>", "", found.group(1), flags=re.DOTALL)
        section = f"<section id='{SECTION_ID}'>{kept}{paragraphs}</section>"
        return page[: found.start()] + section + page[found.end() :]
    body = page.find("<body")
    at = page.find(">", body) + 1 if body >= 0 else 0
    return f"{page[:at]}<section id='{SECTION_ID}'>{paragraphs}</section>{page[at:]}"


def add_lines(report: Path, lines: Sequence[str], key: str) -> Path:
    """Rewrite REPORT (atomically) with LINES in its figures section under KEY."""
    page = with_lines(report.read_text(), lines, key)
    with atomic_path(report) as tmp:
        tmp.write_text(page)
    return report
