"""The dashboard page in real headless Chromium (Debian's /usr/bin/chromium driven by Playwright),
opened inside the Airflow UI after logging in through the UI's own login form."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from urllib.parse import quote

import MySQLdb
import pytest

from tests.conftest import REPO
from tests.dashboard.conftest import DAG_ID, DashboardStack
from tests.dashboard.ledger_fixtures import HOSTILE_IDS, HOSTILE_REASON, MYSQL

playwright_api = pytest.importorskip("playwright.sync_api")

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SCREENSHOT = REPO / "build" / "dashboard.png"


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing; run scripts/ensure_system_deps.sh (installs Debian's chromium)")
    with playwright_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture(scope="module")
def ui(browser: object, dashboard_stack: DashboardStack) -> Iterator[object]:
    """A tab logged in to the Airflow UI through its login form."""
    context = browser.new_context(viewport={"width": 1500, "height": 1100})  # type: ignore[attr-defined]
    page = context.new_page()
    page.goto(f"{dashboard_stack.base_url}/auth/login/")
    page.fill("input[name=username]", "admin")
    page.fill("input[name=password]", "admin-password")
    page.click("button[type=submit]")
    page.wait_for_url(lambda url: "/auth/login" not in url, timeout=60_000)
    yield page
    context.close()


def _dashboard_frame(page: object, url: str) -> object:
    page.goto(url)  # type: ignore[attr-defined]
    frame = page.wait_for_selector("iframe", timeout=60_000).content_frame()  # type: ignore[attr-defined]
    frame.wait_for_selector("#days tbody tr", timeout=60_000)
    return frame


def test_page_inside_the_ui_shows_progress_and_hostile_ids_literally(
    ui: object, dashboard_stack: DashboardStack
) -> None:
    ledger = dashboard_stack.ledger
    frame = _dashboard_frame(ui, f"{dashboard_stack.base_url}/plugin/message-export")
    row = frame.locator(f'#days tr[data-day="{ledger.hostile_day}"]')
    bar = row.locator(".progress")
    parts = ("completed", "failed", "pending")
    assert [bar.get_attribute(f"data-{part}") for part in parts] == ["2", "5", "1"]
    widths = [bar.locator(f".{part}").evaluate("e => e.getBoundingClientRect().width") for part in parts]
    assert widths[1] > widths[0] > 0 and widths[2] > 0  # 5 failed > 2 completed > 0, drawn to scale
    assert frame.locator('#days tr[data-status="not_exported"]').count() == 3

    row.locator(".day-link").click()
    frame.wait_for_selector("#failures tbody tr")
    shown = frame.locator("#failures .message-id").evaluate_all("spans => spans.map(s => s.textContent)")
    assert sorted(shown) == sorted(HOSTILE_IDS)  # quotes, markup, NFD and trailing spaces kept exactly
    reasons = frame.locator("#failures .reason").evaluate_all("spans => spans.map(s => s.textContent)")
    assert set(reasons) == {HOSTILE_REASON}
    assert frame.locator("#failures script, #failures img, #failures b").count() == 0
    assert frame.locator("#batches .progress").count() == 2

    frame.fill("#find-id", "trailing  ")
    frame.click("#find-form button")
    frame.wait_for_selector("#find-answer .find-result")
    assert frame.locator("#find-answer .message-id").text_content() == "trailing  "
    assert "failed after 1 attempts" in frame.locator("#find-answer .find-result").text_content()
    frame.fill("#find-id", ledger.archived_id)
    frame.click("#find-form button")
    frame.wait_for_function(
        "uri => document.querySelector('#find-answer .find-result')?.textContent === 'archived at ' + uri",
        arg=ledger.archived_uri,
    )
    SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
    ui.screenshot(path=str(SCREENSHOT), full_page=True)  # type: ignore[attr-defined]
    assert SCREENSHOT.stat().st_size > 10_000


def test_the_page_is_in_the_ui_navigation(ui: object, dashboard_stack: DashboardStack) -> None:
    ui.goto(f"{dashboard_stack.base_url}/")  # type: ignore[attr-defined]
    ui.get_by_role("button", name="Browse").click()  # type: ignore[attr-defined]
    ui.get_by_role("menuitem", name="Message export").click()  # type: ignore[attr-defined]
    ui.wait_for_url("**/plugin/message-export", timeout=30_000)  # type: ignore[attr-defined]
    frame = ui.wait_for_selector("iframe").content_frame()  # type: ignore[attr-defined]
    frame.wait_for_selector("#days tbody tr", timeout=60_000)


def test_figures_refresh_without_reloading_while_a_day_runs(ui: object, dashboard_stack: DashboardStack) -> None:
    ledger = dashboard_stack.ledger
    running_day = ledger.hostile_day - timedelta(days=1)  # generated: 598 completed, 600 pending
    frame = _dashboard_frame(ui, f"{dashboard_stack.base_url}/plugin/message-export")
    bar = frame.locator(f'#days tr[data-day="{running_day}"] .progress')
    before = int(bar.get_attribute("data-completed"))
    frame.evaluate("() => { window.notReloaded = true; }")
    admin = MySQLdb.connect(
        host=MYSQL["host"], port=MYSQL["port"], user=MYSQL["user"], passwd=MYSQL["password"], db=ledger.database
    )
    try:
        with admin.cursor() as cursor:
            cursor.execute(
                "UPDATE message_tracking t JOIN job_runs j ON j.job_id = t.job_id SET t.status = 'completed'"
                " WHERE j.start_date = %s AND t.status = 'pending' LIMIT 100",
                (str(running_day),),
            )
        admin.commit()
    finally:
        admin.close()
    frame.wait_for_function(
        "([day, want]) => document.querySelector(`#days tr[data-day='${day}'] .progress`)?.dataset.completed === want",
        arg=[str(running_day), str(before + 100)],
        timeout=30_000,
    )
    assert frame.evaluate("() => window.notReloaded") is True


def test_reexport_button_triggers_a_run_as_the_user(ui: object, dashboard_stack: DashboardStack) -> None:
    day = dashboard_stack.ledger.shape.first_day
    client = dashboard_stack.client()
    runs_before = {run["dag_run_id"] for run in client.dag_runs(DAG_ID)}
    frame = _dashboard_frame(ui, f"{dashboard_stack.base_url}/dags/{DAG_ID}/plugin/message-export-dag")
    frame.locator(f'#days tr[data-day="{day}"] button.reexport').click()
    assert f"Re-export {day}, archiving its messages again?" in frame.locator("#confirm-export").text_content()
    assert {run["dag_run_id"] for run in client.dag_runs(DAG_ID)} == runs_before  # nothing before confirming
    frame.click("#confirm-export button.confirm")
    link = frame.wait_for_selector("#triggered-run a.run-link", timeout=30_000)
    run_id = link.text_content()
    assert run_id and run_id not in runs_before
    run = client.json("get", f"/api/v2/dags/{DAG_ID}/dagRuns/{run_id}")
    assert run["conf"] == {"start_date": str(day), "reprocess": True} and run["run_type"] == "manual"
    assert run["triggering_user_name"] == "admin"
    assert link.get_attribute("href") == f"/dags/{DAG_ID}/runs/{quote(run_id, safe='')}"
