"""The message about a run: its reasons, day, counts and run, and never a secret."""

from __future__ import annotations

from datetime import date

from message_export.ledger.records import StatusCounts
from message_export.notifications import MASK, REASON_LIMIT, SUBJECT_LIMIT, RunReport, compose, scrub

RUN_ID = "scheduled__2024-10-02T00:00:00+00:00"
LOG_URL = "https://airflow.example.com/dags/message_export/runs/scheduled__2024-10-02T00%3A00%3A00%2B00%3A00/tasks/finalize?try_number=2"
FINALIZE_REASON = (
    "job 7 window [2024-10-01 00:00, 2024-10-02 00:00) UTC failed: 2 messages failed: "
    "'msg-1' (5 attempts): S3 403 AccessDenied: Access Denied; 'msg-2' (5 attempts): S3 403 AccessDenied: Access Denied"
)


def failed_day(**changes) -> RunReport:
    facts = {
        "event": "failure",
        "dag_id": "message_export",
        "run_id": RUN_ID,
        "task_id": "finalize",
        "try_number": 2,
        "log_url": LOG_URL,
        "reason": FINALIZE_REASON,
        "day": date(2024, 10, 1),
        "job_id": 7,
        "job_status": "failed",
        "counts": StatusCounts(completed=98, failed=2),
        "source_count": 100,
        "archived_objects": 98,
        "ledger_error": FINALIZE_REASON.split(" failed: ", 1)[1],
        **changes,
    }
    return RunReport(**facts)


def test_a_failed_day_carries_its_reasons_day_counts_and_run():
    notice = compose(failed_day())
    assert notice.subject == "message_export FAILED: 2024-10-01 (finalize)"
    assert notice.text.splitlines() == [
        "message_export failed for 2024-10-01: task finalize failed.",
        "",
        "Reason:",
        "  " + FINALIZE_REASON,
        "",
        "Day:      2024-10-01 (job 7, ledger status failed)",
        "Messages: 100 tracked, 98 archived, 2 failed, 0 unfinished",
        "Checks:   Elasticsearch counted 100; 98 objects under the day's prefix",
        f"Run:      message_export / {RUN_ID} (task finalize, try 2)",
        f"Log:      {LOG_URL}",
    ]


def test_the_ledger_error_is_added_when_it_says_something_else():
    notice = compose(failed_day(reason="Task was killed", ledger_error="extraction did not complete"))
    assert "Ledger (job_runs.last_error):\n  extraction did not complete" in notice.text
    assert "Ledger (job_runs" not in compose(failed_day()).text  # the same reasons are not repeated


def test_a_failure_before_any_day_says_so_and_why_the_ledger_is_silent():
    report = failed_day(
        task_id="ensure_schema",
        reason="MySQL connection 'mysql_default' (exporter@db:3306/ledger) unreachable",
        day=None,
        job_id=None,
        job_status=None,
        counts=None,
        source_count=None,
        archived_objects=None,
        ledger_error=None,
        ledger_problem="TrackingUnavailableError: MySQL connection 'mysql_default' unreachable",
    )
    notice = compose(report)
    assert notice.subject == "message_export FAILED: day not resolved (ensure_schema)"
    assert "failed for (no day resolved): task ensure_schema failed." in notice.text
    assert "Ledger:   not read (TrackingUnavailableError" in notice.text
    assert "Day:" not in notice.text and "Messages:" not in notice.text


def test_a_killed_task_without_an_exception_still_explains_itself():
    notice = compose(failed_day(reason=None))
    assert "no error was passed to the callback (the task process may have been killed)" in notice.text


def test_secrets_and_url_credentials_never_reach_the_message():
    reason = (
        "could not reach https://exporter:hunter2-Secret@search.internal:9200/messages with key AKIA-s3cr3t-key; "
        "mysql://root:pw-Secret@db/ledger refused"
    )
    notice = compose(failed_day(reason=reason, run_id="manual__pw-Secret"), secrets=["AKIA-s3cr3t-key", "pw-Secret"])
    for secret in ("hunter2-Secret", "AKIA-s3cr3t-key", "pw-Secret"):
        assert secret not in notice.text and secret not in notice.subject
    assert f"https://{MASK}@search.internal:9200/messages" in notice.text
    assert f"mysql://{MASK}@db/ledger" in notice.text


def test_scrub_leaves_ordinary_text_and_ignores_empty_secrets():
    assert scrub("job 7 failed at http://search:9200/x", secrets=["", "ab"]) == "job 7 failed at http://search:9200/x"


def test_a_long_reason_is_cut_and_the_subject_fits_sns():
    notice = compose(failed_day(reason="x" * (REASON_LIMIT * 3), task_id="é" * 200))
    reason_line = notice.text.splitlines()[3]
    assert len(reason_line) <= REASON_LIMIT + 2 and "characters cut" in reason_line
    assert len(notice.subject) <= SUBJECT_LIMIT and notice.subject.isascii() and "\n" not in notice.subject


def test_a_completed_day_reads_as_such():
    notice = compose(
        failed_day(event="success", reason=None, job_status="completed", counts=StatusCounts(completed=100))
    )
    assert notice.subject == "message_export completed: 2024-10-01 (finalize)"
    assert notice.text.startswith("message_export completed 2024-10-01.")
    assert "Reason:" not in notice.text
    assert "Messages: 100 tracked, 100 archived, 0 failed, 0 unfinished" in notice.text
