"""
### message_export

Archives each UTC day of Elasticsearch messages to S3 — one JSON document per message with its
history, status and audit records — and records every message, batch and job in MySQL.

`ensure_schema` → `resolve_window` → `extract` → `process_batch` × N → `retry_failed` →
`announce_late_days` → `finalize` → `purge_ledger` (ledger retention), plus `trigger_next_window`
when the chain is behind.
Trigger with params to (re-)export one day.
Each completed day gets a manifest and an event on the archive's asset, `s3://{bucket}/{prefix}`,
from the run that completes it (see docs/archive.md, "Reading the archive").
"""

from __future__ import annotations

from datetime import timedelta

import pendulum
from airflow.providers.standard.operators.trigger_dagrun import TriggerDagRunOperator
from airflow.sdk import Param, dag, get_current_context, task
from airflow.task.trigger_rule import TriggerRule
from airflow.timetables.interval import CronDataIntervalTimetable

from message_export.assets import archive_asset, late_days_alias
from message_export.config import load_batch_task_settings
from message_export.names import DAG_ID
from message_export.notifications import RunNotifier

# The archive's S3 location, from the config file's s3 section (a local read, nothing remote).
ARCHIVE = archive_asset()
LATE_DAYS = late_days_alias()  # one event on ARCHIVE per day a retry completed after its own run
# How many process_batch tasks run at once: the process_batch section's pool and per-run cap, if set.
BATCH_TASK_CAPS = load_batch_task_settings().task_arguments()
# A task's final failure sends one message to the channels of the config's notifications section
# (read when it fires); a batch's failures are not the run's verdict: finalize reports them.
NOTIFY_FAILURE = RunNotifier("failure")


@dag(
    dag_id=DAG_ID,
    schedule=CronDataIntervalTimetable("0 0 * * *", timezone="UTC"),
    start_date=pendulum.datetime(2024, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    default_args={
        "owner": "data-engineering",
        "retries": 2,
        "retry_delay": timedelta(minutes=1),
        "retry_exponential_backoff": True,
        "on_failure_callback": NOTIFY_FAILURE,
    },
    params={
        "start_date": Param(
            None,
            type=["null", "string"],
            format="date",
            description="Day to export (UTC), e.g. 2024-10-01. Empty: the next due day.",
        ),
        "end_date": Param(
            None,
            type=["null", "string"],
            format="date",
            description="Exclusive end; must be start_date + 1 day. Optional.",
        ),
        "reprocess": Param(
            False, type="boolean", description="Re-export messages of that day that were already exported."
        ),
    },
    tags=["export", "elasticsearch", "s3"],
    doc_md=__doc__,
)
def message_export() -> None:
    @task
    def ensure_schema() -> None:
        from message_export import pipeline

        pipeline.ensure_schema()

    @task.short_circuit
    def resolve_window() -> dict | None:
        from message_export import pipeline

        return pipeline.resolve_window(pipeline.DagRunInfo.from_context(get_current_context()))

    @task
    def extract(window: dict) -> list[int]:
        from message_export import pipeline

        return pipeline.extract(window)

    @task(map_index_template="{{ batch_label }}", retries=3, on_failure_callback=None, **BATCH_TASK_CAPS)
    def process_batch(batch_id: int) -> dict:
        from message_export import pipeline

        context = get_current_context()
        return pipeline.process_batch(
            batch_id, context["run_id"], label=lambda text: context.__setitem__("batch_label", text)
        )

    @task(trigger_rule=TriggerRule.ALL_DONE)
    def retry_failed(window: dict | None) -> dict:
        from message_export import pipeline

        return pipeline.retry_failed(window, get_current_context()["run_id"])

    @task(trigger_rule=TriggerRule.ALL_DONE, outlets=[LATE_DAYS])
    def announce_late_days(window: dict | None) -> dict:
        from message_export import pipeline

        events = get_current_context()["outlet_events"][LATE_DAYS]
        return pipeline.announce_late_days(window, announce=lambda extra: events.add(ARCHIVE, extra=extra))

    @task(trigger_rule=TriggerRule.ALL_DONE, retries=1, outlets=[ARCHIVE], on_success_callback=RunNotifier("success"))
    def finalize(window: dict | None) -> dict:
        from message_export import pipeline

        # the event is emitted only when finalize succeeds: a completed day
        event = get_current_context()["outlet_events"][ARCHIVE]
        return pipeline.finalize(window, on_completed_day=event.extra.update)

    # after a completed day only: as a leaf it decides the run's state, so it must not run (and
    # succeed) when finalize failed
    @task
    def purge_ledger() -> dict:
        from message_export import pipeline

        return pipeline.purge_ledger()

    @task.short_circuit(ignore_downstream_trigger_rules=False)
    def next_window_due(window: dict) -> bool:
        from message_export import pipeline

        return pipeline.next_window_due(window)

    trigger_next_window = TriggerDagRunOperator(task_id="trigger_next_window", trigger_dag_id=DAG_ID)

    window = resolve_window()
    batches = extract(window)
    processed = process_batch.expand(batch_id=batches)
    retried = retry_failed(window)
    ensure_schema() >> window
    processed >> retried >> announce_late_days(window) >> finalize(window) >> purge_ledger()
    batches >> next_window_due(window) >> trigger_next_window


message_export()
