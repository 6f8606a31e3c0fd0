"""Which task tells the team: every task's final failure except a batch's; finalize's success, if asked."""

from __future__ import annotations

from pathlib import Path

import pytest
from airflow.dag_processing.dagbag import DagBag

from message_export.notifications import RunNotifier

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def dag():
    return DagBag(dag_folder=str(REPO / "dags")).dags["message_export"]


def events(callbacks) -> list[str]:
    return [callback.event for callback in callbacks if isinstance(callback, RunNotifier)]


def test_every_task_but_a_batch_reports_its_final_failure(dag):
    for task in dag.tasks:
        expected = [] if task.task_id == "process_batch" else ["failure"]
        assert events(task.on_failure_callback) == expected, task.task_id


def test_only_a_completed_day_reports_success(dag):
    reporting = {task.task_id: events(task.on_success_callback) for task in dag.tasks}
    assert reporting.pop("finalize") == ["success"]
    assert all(found == [] for found in reporting.values()), reporting


def test_a_mistake_in_the_notifications_section_does_not_break_parsing(tmp_path, monkeypatch):
    text = (REPO / "include/config/message_export.yaml").read_text()
    path = tmp_path / "config.yaml"
    path.write_text(text + "\nnotifications:\n  sns:\n    topic_arn: not-an-arn\n")
    monkeypatch.setenv("MESSAGE_EXPORT_CONFIG", str(path))
    bag = DagBag(dag_folder=str(REPO / "dags"))
    assert bag.import_errors == {} and "message_export" in bag.dags
