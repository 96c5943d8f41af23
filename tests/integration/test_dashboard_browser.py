"""A person's path from optuna-dashboard to a trial's MLflow run, in a real headless Chromium.

`hpo dashboard` serves a study whose trials were tracked by the real StudyTracker; the browser opens a
trial's page in the dashboard's single-page app and must show the trial's note with the MLflow run link.
Needs Debian's chromium at /usr/bin/chromium (CI installs it with apt); skipped when it is absent.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from dashboard_support import TrackedStudy, build_tracked_study, free_port, get_json, hpo_dashboard

if TYPE_CHECKING:
    from playwright.sync_api import Page

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
#: What the notes link to: the run page of an MLflow tracking server (nothing needs to listen there).
TRACKING_SERVER = "http://mlflow.example.test:5000"
#: Bound of every browser wait (launch, navigation, each expectation), in milliseconds.
WAIT_MS = 30_000

pytestmark = [
    pytest.mark.integration,
    pytest.mark.timeout(120),
    pytest.mark.skipif(
        not CHROMIUM.is_file(), reason=f"{CHROMIUM} not installed (apt-get install chromium; CI does)"
    ),
]


@pytest.fixture(scope="module")
def tracked(tmp_path_factory: pytest.TempPathFactory) -> TrackedStudy:
    return build_tracked_study(tmp_path_factory.mktemp("browser-study"), tracking_server=TRACKING_SERVER)


@pytest.fixture
def page() -> Iterator[Page]:
    """A page of Debian's Chromium, headless, driven by Playwright (its own browsers are not used)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS, timeout=WAIT_MS
        )
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.set_default_timeout(WAIT_MS)
            yield page
        finally:
            browser.close()


def test_trial_page_shows_the_note_with_its_mlflow_run_link(
    tracked: TrackedStudy, page: Page, tmp_path: Path
) -> None:
    from playwright.sync_api import expect

    number = 2
    run_id = tracked.run_ids[number]
    run_page = f"{TRACKING_SERVER}/#/experiments/{tracked.experiment_id}/runs/{run_id}"
    port = free_port()
    with hpo_dashboard(["--storage", tracked.storage, "--server", "wsgiref"], port, tmp_path) as running:
        summaries = get_json(f"{running.base_url}/api/studies")["study_summaries"]
        (study_id,) = [s["study_id"] for s in summaries if s["study_name"] == tracked.study_name]
        try:
            page.goto(f"{running.base_url}/dashboard/studies/{study_id}/trials?numbers={number}")
            expect(page.get_by_role("heading", name=f"Trial {number}", exact=True)).to_be_visible(
                timeout=WAIT_MS
            )
            link = page.get_by_role("link", name=run_id, exact=True)
            expect(link).to_be_visible(timeout=WAIT_MS)
            expect(link).to_have_attribute("href", run_page, timeout=WAIT_MS)
            expect(page.get_by_text("MLflow run:")).to_be_visible(timeout=WAIT_MS)
            for other, other_run in tracked.run_ids.items():
                if other != number:  # the page shows the selected trial's note, not another one
                    expect(page.get_by_role("link", name=other_run)).to_have_count(0, timeout=WAIT_MS)
        except Exception:
            page.screenshot(path=str(tmp_path / "trial-page.png"), full_page=True)
            raise
