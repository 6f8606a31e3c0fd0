"""The dashboard page in real headless Chromium (Debian's /usr/bin/chromium driven by Playwright),
opened inside the Airflow UI after logging in through the UI's own login form."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from urllib.parse import quote

import MySQLdb
import pytest

from message_export.ledger.hook import MessageTrackingHook
from message_export.model import MessageOutcome
from message_export.windows import Window
from tests.dashboard.browser import dashboard_frame, logged_in
from tests.dashboard.conftest import DAG_ID, DashboardStack
from tests.dashboard.ledger_fixtures import HOSTILE_IDS, HOSTILE_REASON, MYSQL
from tests.fixtures.ledger_rows import track_pending


@pytest.fixture(scope="module")
def ui(browser: object, dashboard_stack: DashboardStack) -> Iterator[object]:
    """A tab logged in to the Airflow UI as the admin, through its login form."""
    with logged_in(browser, dashboard_stack, "admin") as page:
        yield page


def test_page_inside_the_ui_shows_progress_and_hostile_ids_literally(
    ui: object, dashboard_stack: DashboardStack
) -> None:
    ledger = dashboard_stack.ledger
    frame = dashboard_frame(ui, f"{dashboard_stack.base_url}/plugin/message-export")
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
    assert frame.locator("#find-answer .where-bytes").text_content() == "the whole object"

    # a batch-layout message: its object, byte range, and its document read back through the page
    member = ledger.member
    frame.fill("#find-id", member.message_id)
    frame.click("#find-form button")
    frame.wait_for_function(
        "uri => document.querySelector('#find-answer .where-uri')?.textContent === uri", arg=member.s3_uri
    )
    last = member.offset + member.length - 1
    assert (
        frame.locator("#find-answer .where-bytes")
        .text_content()
        .startswith(f"bytes {member.offset:,} to {last:,} of the object (bytes={member.offset}-{last})")
    )
    assert frame.locator("#find-answer .where-command").text_content() == "python -m message_export.fetch archived-2"
    frame.click("#find-answer button.show-document")
    shown = frame.wait_for_selector("#find-answer pre.document:not([hidden])")
    assert json.loads(shown.text_content()) == json.loads(member.document)  # markup shown as text, not HTML
    assert frame.locator("#find-answer pre.document b").count() == 0


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
    frame = dashboard_frame(ui, f"{dashboard_stack.base_url}/plugin/message-export")
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


@pytest.mark.parametrize("username", ["admin", "operator"])
def test_a_user_who_may_start_runs_reexports_a_day_from_the_page(
    browser: object, dashboard_stack: DashboardStack, username: str
) -> None:
    day = dashboard_stack.ledger.shape.first_day
    client = dashboard_stack.client()
    runs_before = {run["dag_run_id"] for run in client.dag_runs(DAG_ID)}
    with logged_in(browser, dashboard_stack, username) as page:
        frame = dashboard_frame(page, f"{dashboard_stack.base_url}/dags/{DAG_ID}/plugin/message-export-dag")
        assert frame.locator("#role-note").is_hidden()
        frame.locator(f'#days tr[data-day="{day}"] button.reexport').click()
        assert f"Re-export {day}, archiving its messages again?" in frame.locator("#confirm-export").text_content()
        assert {run["dag_run_id"] for run in client.dag_runs(DAG_ID)} == runs_before  # nothing before confirming
        frame.click("#confirm-export button.confirm")
        link = frame.wait_for_selector("#triggered-run a.run-link", timeout=30_000)
        run_id, href = link.text_content(), link.get_attribute("href")
    assert run_id and run_id not in runs_before
    run = client.json("get", f"/api/v2/dags/{DAG_ID}/dagRuns/{run_id}")
    assert run["conf"] == {"start_date": str(day), "reprocess": True} and run["run_type"] == "manual"
    assert run["triggering_user_name"] == username
    assert href == f"/dags/{DAG_ID}/runs/{quote(run_id, safe='')}"


def test_a_viewer_sees_every_figure_but_no_export_control(browser: object, dashboard_stack: DashboardStack) -> None:
    ledger = dashboard_stack.ledger
    with logged_in(browser, dashboard_stack, "viewer") as page:
        frame = dashboard_frame(page, f"{dashboard_stack.base_url}/dags/{DAG_ID}/plugin/message-export-dag")
        assert frame.evaluate("() => document.body.dataset.canExport") == "false"
        due_days = (ledger.hostile_day - (ledger.shape.first_day - timedelta(days=3))).days + 1
        assert frame.locator("#days tbody tr").count() == due_days
        bar = frame.locator(f'#days tr[data-day="{ledger.hostile_day}"] .progress')
        assert [bar.get_attribute(f"data-{part}") for part in ("completed", "failed", "pending")] == ["2", "5", "1"]
        assert frame.locator("button.reexport, button.export, #confirm-export").count() == 0
        assert frame.locator("#days th.action-column").is_hidden()
        note = frame.locator("#role-note")
        assert note.is_visible()
        assert note.text_content().startswith("Signed in as viewer: you can see every figure here.")
        frame.wait_for_selector("#chart-archived a.day-point")
        assert frame.locator("#chart-archived a.day-point").count() == due_days
        frame.locator(f'#days tr[data-day="{ledger.hostile_day}"] .day-link').click()
        frame.wait_for_selector("#failures tbody tr")
        assert frame.locator("#failures tbody tr").count() == len(HOSTILE_IDS)


def test_a_days_failed_messages_page_forward_and_back_by_key(ui: object, dashboard_stack: DashboardStack) -> None:
    day = dashboard_stack.ledger.hostile_day
    ui.goto(f"{dashboard_stack.base_url}/message-export/?day={day}&rows=2")  # type: ignore[attr-defined]
    pager = ui.locator("#failure-pager")  # type: ignore[attr-defined]
    in_byte_order = sorted(HOSTILE_IDS, key=lambda message_id: message_id.encode())

    def page_shows(number: int) -> list[str]:
        ui.wait_for_function(  # type: ignore[attr-defined]
            "want => document.querySelector('#failure-pager span')?.textContent === want",
            arg=f"page {number} of 3",
            timeout=30_000,
        )
        return ui.locator("#failures .message-id").evaluate_all("spans => spans.map(s => s.textContent)")  # type: ignore[attr-defined]

    assert page_shows(1) == in_byte_order[:2]
    assert pager.locator("button.previous").is_disabled()
    pager.locator("button.next").click()
    assert page_shows(2) == in_byte_order[2:4]
    pager.locator("button.next").click()
    assert page_shows(3) == in_byte_order[4:]
    assert pager.locator("button.next").is_disabled()
    pager.locator("button.previous").click()
    assert page_shows(2) == in_byte_order[2:4]
    batches = ui.locator("#batch-pager")  # type: ignore[attr-defined]
    assert batches.locator("span").text_content() == "page 1 of 1" and batches.locator("button.next").is_disabled()


def test_the_page_says_which_dags_ledger_it_shows(ui: object, dashboard_stack: DashboardStack) -> None:
    """Airflow shows a plugin's DAG tab on every DAG's page: the page names the DAG it belongs to."""
    frame = dashboard_frame(ui, f"{dashboard_stack.base_url}/dags/{DAG_ID}/plugin/message-export-dag")
    assert frame.locator("#dag-scope").text_content() == "This dashboard shows the message_export DAG's export ledger."
    ui.goto(f"{dashboard_stack.base_url}/message-export/?dag_id=another_dag")  # type: ignore[attr-defined]
    ui.wait_for_selector("#days tbody tr", timeout=60_000)  # type: ignore[attr-defined]
    assert ui.locator("#dag-scope").text_content() == (  # type: ignore[attr-defined]
        "This dashboard shows the message_export DAG's export ledger, not another_dag's: "
        "Airflow shows this tab on every DAG's page."
    )


@pytest.fixture
def purged_day(dashboard_stack: DashboardStack) -> Iterator[date]:
    """A day exported in full, then its message rows removed by retention's own steps; the day is
    taken out of the ledger again afterwards (the other tests count the days before the first one)."""
    ledger = dashboard_stack.ledger
    day = ledger.shape.first_day - timedelta(days=1)
    hook = MessageTrackingHook(ledger.conn_id)
    job = hook.open_job(Window.for_day(day), "scheduled__purged")
    try:
        batches = hook.ensure_batches(job.job_id, [0])
        track_pending(hook, job, [(f"purged-{n:03d}", batches[0]) for n in range(20)])
        hook.complete_extraction(job.job_id)
        token = uuid.uuid4().hex
        claimed = hook.claim_batch(batches[0], token, 600, 5)
        uri = f"s3://message-archive/messages/dt={day.isoformat()}/"
        hook.record_results(token, [MessageOutcome.archived(m, f"{uri}{m.message_id}.json") for m in claimed])
        hook.refresh_batches([batches[0]])
        counts = {"total": 20, "completed": 20, "failed": 0, "source_count": 20, "archived_objects": 20}
        hook.close_job(job.job_id, status="completed", next_run_date=None, last_error=None, **counts)
        assert hook.purge_chunk(job.job_id, b"", 1000) == (20, b"purged-019")
        hook.mark_purged(job.job_id)
        yield day
    finally:
        hook.close()
        admin = MySQLdb.connect(
            host=MYSQL["host"], port=MYSQL["port"], user=MYSQL["user"], passwd=MYSQL["password"], db=ledger.database
        )
        try:
            with admin.cursor() as cursor:
                cursor.execute("DELETE FROM batch_progress WHERE job_id = %s", (job.job_id,))
                cursor.execute("DELETE FROM job_runs WHERE job_id = %s", (job.job_id,))
            admin.commit()
        finally:
            admin.close()


def test_a_purged_day_shows_its_recorded_figures_and_says_where_its_messages_are(
    ui: object, dashboard_stack: DashboardStack, purged_day: date
) -> None:
    frame = dashboard_frame(ui, f"{dashboard_stack.base_url}/plugin/message-export")
    row = frame.locator(f'#days tr[data-day="{purged_day}"]')
    assert row.get_attribute("data-status") == "completed"  # not a failure, not "not exported"
    assert row.locator(".progress").get_attribute("data-completed") == "20"  # recorded, not zero
    row.locator(".day-link").click()
    ledger_line = frame.locator(".figure", has_text="Ledger:")
    ledger_line.wait_for(timeout=30_000)
    text = ledger_line.text_content()
    assert f"message rows removed by retention on {datetime.now(UTC).date().isoformat()}" in text, text
    assert "the day's manifest in the archive lists every message" in text, text
    messages = frame.locator(".figure", has_text="Messages:").text_content()
    assert "20 completed, 0 failed, 0 pending of 20 tracked" in messages, messages
    batch = frame.locator('#batches tr[data-batch="0"] td.num')
    assert batch.evaluate_all("cells => cells.map(c => c.textContent)") == ["0", "20", "0", "0", "20"]
