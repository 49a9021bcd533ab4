"""The user's real paths in a real browser (Debian Chromium driven by Playwright).

Airflow: log in, trigger the training DAG from its page, watch the run succeed.
BentoML: open the Swagger UI, "Try it out" on /inference with the example body, read the best
driver in the response. Screenshots go to test-artifacts/screenshots/.
"""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from tests.e2e.conftest import Demo


pytestmark = [pytest.mark.slow, pytest.mark.integration]

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
]


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    playwright_api = pytest.importorskip("playwright.sync_api")
    if not Path(CHROMIUM).exists():
        pytest.fail("chromium is not installed; run `make setup_dev`")
    with playwright_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


def test_airflow_login_trigger_training_and_see_it_succeed(
    demo: Demo, browser: object, screenshots: Path
) -> None:
    assert demo.returncode == 0, demo.output[-3000:]
    with demo.api() as api:
        before = {
            r["dag_run_id"] for r in api.get("/dags/training_pipeline/dagRuns").json()["dag_runs"]
        }

    page = browser.new_page(viewport={"width": 1400, "height": 900})  # type: ignore[attr-defined]
    page.goto(f"{demo.airflow_url}/")
    page.get_by_label("Username").fill("admin")
    page.get_by_label("Password").fill(demo.admin_password())
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(f"{demo.airflow_url}/", timeout=30_000)
    page.screenshot(path=str(screenshots / "airflow-home.png"))

    page.goto(f"{demo.airflow_url}/dags/training_pipeline")
    page.get_by_role("button", name="Trigger Dag").click()
    dialog = page.get_by_role("dialog")
    dialog.get_by_role("button", name="Trigger").click()
    page.screenshot(path=str(screenshots / "airflow-triggered.png"))

    with demo.api() as api:
        deadline = time.monotonic() + 900
        new_run = None
        while time.monotonic() < deadline:
            runs = api.get("/dags/training_pipeline/dagRuns").json()["dag_runs"]
            fresh = [r for r in runs if r["dag_run_id"] not in before]
            if fresh and fresh[0]["state"] in {"success", "failed"}:
                new_run = fresh[0]
                break
            time.sleep(3)
    assert new_run is not None, "the run triggered from the UI did not finish in 15 minutes"

    page.goto(f"{demo.airflow_url}/dags/training_pipeline/runs/{new_run['dag_run_id']}")
    page.wait_for_timeout(2000)
    page.screenshot(path=str(screenshots / "airflow-training-run.png"))
    # Same data, same model: the gates pass ("not worse than the champion"), the run succeeds.
    assert new_run["state"] == "success"
    assert page.get_by_text("success").first.is_visible()
    page.close()


def test_swagger_try_it_out_on_inference(demo: Demo, browser: object, screenshots: Path) -> None:
    assert demo.returncode == 0, demo.output[-3000:]
    page = browser.new_page(viewport={"width": 1400, "height": 1200})  # type: ignore[attr-defined]
    page.goto(f"{demo.serving_url}/")
    operation = page.locator(".opblock-post", has_text="/inference").first
    operation.locator(".opblock-summary").click()
    operation.get_by_role("button", name="Try it out").click()
    body = operation.locator("textarea.body-param__text")
    example = json.loads(body.input_value())
    assert example["driver_ids"] == [1001, 1002, 1003, 1004, 1005]
    operation.get_by_role("button", name="Execute").click()
    response = operation.locator(".live-responses-table .response-col_description pre").first
    response.wait_for(timeout=30_000)
    page.screenshot(path=str(screenshots / "swagger-inference.png"), full_page=True)
    answer = json.loads(response.inner_text())
    assert answer["best_driver_id"] in example["driver_ids"]
    page.close()
