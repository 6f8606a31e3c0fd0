"""Messages about the export's runs, sent through Airflow notifiers.

The DAG attaches :class:`RunNotifier` to its tasks' callbacks. When one fires it reads the config
file's ``notifications`` section (never at parse time), looks the run's day up in the ledger,
composes one message (the reasons, the day, the counts, the run and its log address; never a
secret) and hands it to every configured notifier: an SNS topic by default, or any
``BaseNotifier`` named by import path.

One failed run, one message: a task whose failure follows a failed upstream task that notifies
(``finalize`` after ``extract``) stays silent; the upstream task's message carries the cause.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any, Literal

from airflow.sdk import BaseNotifier

from message_export.config import Connections, NotificationSettings, load_notification_settings
from message_export.ledger.records import StatusCounts

log = logging.getLogger(__name__)

Event = Literal["failure", "success"]

REASON_LIMIT = 4000  # an SNS message may hold 256 KB; a reason past this is cut, the log has it whole
SUBJECT_LIMIT = 100  # SNS: ASCII, one line, at most 100 characters
_URL_CREDENTIALS = re.compile(r"(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*://)[^/\s:@]+:[^/\s@]*@")
_SENSITIVE_KEY = re.compile(r"pass|secret|token|key|credential|auth|session", re.IGNORECASE)
MASK = "***"


@dataclass(frozen=True)
class RunReport:
    """What a message says about one run; plain values only."""

    event: Event
    dag_id: str
    run_id: str
    task_id: str
    try_number: int | None = None
    log_url: str | None = None
    reason: str | None = None  # the task's exception
    day: date | None = None
    job_id: int | None = None
    job_status: str | None = None
    counts: StatusCounts | None = None
    source_count: int | None = None
    archived_objects: int | None = None
    ledger_error: str | None = None  # the job row's last_error
    ledger_problem: str | None = None  # why the ledger could not be read


@dataclass(frozen=True)
class Notice:
    subject: str
    text: str


def scrub(text: str, secrets: Iterable[str] = ()) -> str:
    """Replace every secret value and every ``user:password@`` of a URL in ``text`` with ``***``."""
    for secret in sorted({s for s in secrets if s and len(s) >= 3}, key=len, reverse=True):
        text = text.replace(secret, MASK)
    return _URL_CREDENTIALS.sub(rf"\g<scheme>{MASK}@", text)


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 40] + f" … ({len(text) - limit + 40} characters cut)"


def _subject(report: RunReport) -> str:
    what = "FAILED" if report.event == "failure" else "completed"
    day = report.day.isoformat() if report.day else "day not resolved"
    subject = f"{report.dag_id} {what}: {day} ({report.task_id})"
    # SNS refuses non-ASCII and control characters in a subject
    subject = "".join(c if 32 <= ord(c) < 127 else "?" for c in subject)
    return subject[:SUBJECT_LIMIT]


def compose(report: RunReport, secrets: Iterable[str] = ()) -> Notice:
    """Return the subject and text of the message about ``report``, with ``secrets`` masked."""
    secrets = list(secrets)
    lines: list[str] = []
    if report.event == "failure":
        day = report.day.isoformat() if report.day else "(no day resolved)"
        lines.append(f"{report.dag_id} failed for {day}: task {report.task_id} failed.")
        lines += ["", "Reason:"]
        reason = report.reason or "no error was passed to the callback (the task process may have been killed)"
        lines.append("  " + _cut(reason, REASON_LIMIT))
        if report.ledger_error and report.ledger_error not in (report.reason or ""):
            lines += ["", "Ledger (job_runs.last_error):", "  " + _cut(report.ledger_error, REASON_LIMIT)]
    else:
        lines.append(f"{report.dag_id} completed {report.day.isoformat() if report.day else 'a day'}.")
    lines.append("")
    if report.day is not None:
        lines.append(f"Day:      {report.day.isoformat()} (job {report.job_id}, ledger status {report.job_status})")
    if report.counts is not None:
        c = report.counts
        lines.append(
            f"Messages: {c.total} tracked, {c.completed} archived, {c.failed} failed, "
            f"{c.pending + c.in_progress} unfinished"
        )
    if report.source_count is not None or report.archived_objects is not None:
        lines.append(
            f"Checks:   Elasticsearch counted {_figure(report.source_count)}; "
            f"{_figure(report.archived_objects)} objects under the day's prefix"
        )
    if report.ledger_problem:
        lines.append(f"Ledger:   not read ({report.ledger_problem})")
    try_text = f", try {report.try_number}" if report.try_number else ""
    lines.append(f"Run:      {report.dag_id} / {report.run_id} (task {report.task_id}{try_text})")
    if report.log_url:
        lines.append(f"Log:      {report.log_url}")
    return Notice(subject=scrub(_subject(report), secrets), text=scrub("\n".join(lines), secrets))


def _figure(value: int | None) -> str:
    return "?" if value is None else str(value)


class RunNotifier(BaseNotifier):
    """Tell the configured channels that a run failed (``event="failure"``) or a day completed.

    Attach it as a task's ``on_failure_callback`` / ``on_success_callback``. It holds no
    configuration itself: the config file is read when it fires.
    """

    def __init__(self, event: Event = "failure") -> None:
        super().__init__()
        self.event: Event = event

    def notify(self, context: Mapping[str, Any]) -> None:
        settings, connections = load_notification_settings()
        if not (settings.on_failure if self.event == "failure" else settings.on_success):
            return
        if settings.sns is None and not settings.notifiers:
            log.info("notifications: no channel configured (notifications.sns / notifications.notifiers)")
            return
        if self.event == "failure":
            reported_by = failed_upstream_notifiers(context)
            if reported_by:
                log.info("notifications: not sent; %s failed first in this run and sent the message", reported_by)
                return
        report = gather_report(self.event, context, connections)
        notice = compose(report, secrets=connection_secrets(connections, settings))
        send(notice, settings, connections, context)


def failed_upstream_notifiers(context: Mapping[str, Any]) -> list[str]:
    """Return the failed tasks upstream of this one, in this run, whose failure sends a message."""
    task, ti = context["task"], context["ti"]
    dag = context.get("dag") or task.dag
    upstream = sorted(
        task_id
        for task_id in task.get_flat_relative_ids(upstream=True)
        if any(
            isinstance(callback, RunNotifier) and callback.event == "failure"
            for callback in _callbacks(dag.get_task(task_id).on_failure_callback)
        )
    )
    if not upstream:
        return []
    try:
        states = ti.get_task_states(dag_id=ti.dag_id, task_ids=upstream, run_ids=[ti.run_id])
    except Exception as error:  # noqa: BLE001 - a duplicate message is better than none
        log.warning("notifications: could not read the states of %s (%s); sending anyway", upstream, error)
        return []
    return sorted(task_id for task_id, state in states.get(ti.run_id, {}).items() if state == "failed")


def _callbacks(value: Any) -> list[Any]:
    if value is None:
        return []
    return list(value) if isinstance(value, (list, tuple)) else [value]


def gather_report(event: Event, context: Mapping[str, Any], connections: Connections) -> RunReport:
    """Collect what the message says: the task's error from ``context``, the day and counts from the ledger."""
    ti = context["ti"]
    error = context.get("exception")
    facts: dict[str, Any] = {
        "event": event,
        "dag_id": ti.dag_id,
        "run_id": ti.run_id,
        "task_id": ti.task_id if ti.map_index in (None, -1) else f"{ti.task_id}[{ti.map_index}]",
        "try_number": getattr(ti, "try_number", None),
        "reason": str(error) if error is not None else None,
    }
    try:
        facts["log_url"] = ti.log_url
    except Exception as url_error:  # noqa: BLE001 - only a convenience
        log.warning("notifications: no log address (%s)", url_error)
    facts.update(_ledger_facts(ti.run_id, connections))
    return RunReport(**facts)


def _ledger_facts(run_id: str, connections: Connections) -> dict[str, Any]:
    from message_export.ledger.hook import MessageTrackingHook

    tracking = MessageTrackingHook(connections.mysql, max_attempts=2)
    try:
        record = tracking.run_record(run_id)
        if record is None:
            return {}
        return {
            "day": record.day,
            "job_id": record.job_id,
            "job_status": record.status,
            "counts": tracking.live_job_counts(record.job_id),
            "source_count": record.source_count,
            "archived_objects": record.archived_objects,
            "ledger_error": record.last_error,
        }
    except Exception as error:  # noqa: BLE001 - the message goes out without the ledger's figures
        return {"ledger_problem": f"{type(error).__name__}: {error}"}
    finally:
        tracking.close()


def connection_secrets(connections: Connections, settings: NotificationSettings) -> list[str]:
    """Return the passwords and sensitive extras of the export's connections, to mask in a message."""
    from airflow.sdk import BaseHook

    conn_ids = {connections.elasticsearch, connections.mysql, connections.aws}
    if settings.sns is not None and settings.sns.aws_conn_id:
        conn_ids.add(settings.sns.aws_conn_id)
    secrets: list[str] = []
    for conn_id in sorted(conn_ids):
        try:
            conn = BaseHook.get_connection(conn_id)
        except Exception:  # noqa: BLE001 - not defined here: none of it can be in the message
            continue
        secrets.append(conn.password or "")
        secrets += [str(value) for key, value in _flat_items(conn.extra_dejson) if _SENSITIVE_KEY.search(key)]
    return [secret for secret in secrets if secret]


def _flat_items(values: Mapping[str, Any]) -> Iterable[tuple[str, Any]]:
    for key, value in values.items():
        if isinstance(value, Mapping):
            yield from _flat_items(value)
        elif value is not None:
            yield str(key), value


def send(notice: Notice, settings: NotificationSettings, connections: Connections, context: Mapping[str, Any]) -> None:
    """Hand ``notice`` to every configured channel; raise if any of them failed (after trying all)."""
    channels: list[tuple[str, Any]] = []
    if settings.sns is not None:
        from airflow.providers.amazon.aws.notifications.sns import SnsNotifier

        sns = settings.sns
        channels.append(
            (
                f"SNS topic {sns.topic_arn}",
                SnsNotifier(
                    aws_conn_id=sns.aws_conn_id or connections.aws,
                    target_arn=sns.topic_arn,
                    message=notice.text,
                    subject=notice.subject,
                    region_name=sns.region_name,
                ),
            )
        )
    for channel in settings.notifiers:
        channels.append((channel.notifier, channel.build(notice.text, notice.subject)))
    failures = []
    for name, notifier in channels:
        try:
            # notify(), not __call__: the message is final text, not a template to render
            notifier.notify(context)
            log.info("notifications: sent %r to %s", notice.subject, name)
        except Exception as error:  # noqa: BLE001 - reported below, after the other channels
            log.error("notifications: sending to %s failed: %s", name, error)
            failures.append(f"{name}: {type(error).__name__}: {error}")
    if failures:
        raise RuntimeError("notifications not sent: " + "; ".join(failures))
