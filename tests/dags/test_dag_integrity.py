"""The DAG imports cleanly, has the pipeline's shape and follows team policy."""

from __future__ import annotations

from pathlib import Path

import pytest
from airflow.dag_processing.dagbag import DagBag

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def dagbag() -> DagBag:
    return DagBag(dag_folder=str(REPO / "dags"))


def test_no_import_errors(dagbag):
    assert dagbag.import_errors == {}
    assert list(dagbag.dags) == ["message_export"]


def test_pipeline_shape(dagbag):
    dag = dagbag.dags["message_export"]
    assert set(dag.task_dict) == {
        "ensure_schema",
        "resolve_window",
        "extract",
        "process_batch",
        "retry_failed",
        "announce_late_days",
        "finalize",
        "purge_ledger",
        "next_window_due",
        "trigger_next_window",
    }
    downstream = {tid: set(task.downstream_task_ids) for tid, task in dag.task_dict.items()}
    assert downstream["ensure_schema"] == {"resolve_window"}
    assert downstream["extract"] == {"process_batch", "next_window_due"}
    assert downstream["process_batch"] == {"retry_failed"}
    assert downstream["retry_failed"] == {"announce_late_days"}
    assert downstream["announce_late_days"] == {"finalize"}
    assert dag.task_dict["retry_failed"].trigger_rule == "all_done"
    assert dag.task_dict["announce_late_days"].trigger_rule == "all_done"
    assert dag.task_dict["finalize"].trigger_rule == "all_done"
    # retention runs only after a completed day: a leaf that succeeded after a failed finalize
    # would mark the run successful
    assert downstream["finalize"] == {"purge_ledger"}
    assert dag.task_dict["purge_ledger"].trigger_rule == "all_success"
    assert dag.task_dict["process_batch"].map_index_template == "{{ batch_label }}"


def test_real_daily_intervals_and_single_active_run(dagbag):
    dag = dagbag.dags["message_export"]
    assert type(dag.timetable).__name__ == "CronDataIntervalTimetable"
    assert dag.max_active_runs == 1
    assert set(dag.params.keys()) == {"start_date", "end_date", "reprocess"}


def test_team_policy(dagbag):
    for dag in dagbag.dags.values():
        assert dag.tags, f"{dag.dag_id} has no tags"
        assert dag.doc_md, f"{dag.dag_id} has no doc_md"
        for task in dag.tasks:
            assert task.owner == "data-engineering", task.task_id
            assert task.retries >= 1, f"{task.task_id} has no retries"


def test_dag_file_stays_a_table_of_contents():
    text = (REPO / "dags/message_export.py").read_text()
    assert len(text.splitlines()) <= 150
    for forbidden in ("Variable.get", "datetime.now", "MySqlHook", "Elasticsearch(", "boto3", "SELECT ", "INSERT "):
        assert forbidden not in text, forbidden


def test_finalize_announces_the_archive_asset_located_from_the_config(dagbag):
    from airflow.sdk import Asset

    from message_export.assets import late_days_alias
    from message_export.config import load_config

    config = load_config()
    finalize = dagbag.dags["message_export"].task_dict["finalize"]
    location = f"s3://{config.s3.bucket}/{config.s3.prefix}"
    assert finalize.outlets == [Asset(location)]
    assert (finalize.outlets[0].name, finalize.outlets[0].uri) == (location, location)
    others = [task for task in dagbag.dags["message_export"].tasks if task.outlets and task is not finalize]
    # the days a retry completed late are announced through an alias: each an event on the same asset
    assert [(task.task_id, task.outlets) for task in others] == [("announce_late_days", [late_days_alias()])]


def _parse_with_config(tmp_path, monkeypatch, text: str) -> DagBag:
    path = tmp_path / "config.yaml"
    path.write_text(text)
    monkeypatch.setenv("MESSAGE_EXPORT_CONFIG", str(path))
    return DagBag(dag_folder=str(REPO / "dags"))


def test_the_dag_parses_with_a_mistake_outside_the_s3_section(tmp_path, monkeypatch):
    text = (REPO / "include/config/message_export.yaml").read_text()
    bag = _parse_with_config(tmp_path, monkeypatch, text.replace("batch_size: 500", "batch_size: fifty"))
    assert bag.import_errors == {}
    assert bag.dags["message_export"].task_dict["finalize"].outlets[0].uri == "s3://message-archive/messages"


def test_a_bad_s3_section_is_an_import_error_naming_the_key(tmp_path, monkeypatch):
    text = (REPO / "include/config/message_export.yaml").read_text()
    bag = _parse_with_config(tmp_path, monkeypatch, text.replace("bucket: message-archive", "bucket: Bad_Bucket"))
    [error] = bag.import_errors.values()
    assert "key 's3.bucket'" in error and "Bad_Bucket" in error and str(tmp_path / "config.yaml") in error


def test_process_batch_runs_in_the_default_pool_without_a_cap_when_the_config_sets_none(dagbag):
    process_batch = dagbag.dags["message_export"].task_dict["process_batch"]
    assert (process_batch.pool, process_batch.max_active_tis_per_dagrun) == ("default_pool", None)


def test_the_configured_pool_and_per_run_cap_land_on_process_batch(tmp_path, monkeypatch):
    text = (REPO / "include/config/message_export.yaml").read_text()
    text = text.replace("  pool: null", "  pool: search_cluster").replace(
        "  max_active_tis_per_dagrun: null", "  max_active_tis_per_dagrun: 8"
    )
    bag = _parse_with_config(tmp_path, monkeypatch, text)
    assert bag.import_errors == {}
    tasks = bag.dags["message_export"].task_dict
    assert (tasks["process_batch"].pool, tasks["process_batch"].max_active_tis_per_dagrun) == ("search_cluster", 8)
    assert {task.pool for task_id, task in tasks.items() if task_id != "process_batch"} == {"default_pool"}


def test_a_bad_process_batch_section_is_an_import_error_naming_the_key(tmp_path, monkeypatch):
    text = (REPO / "include/config/message_export.yaml").read_text()
    bag = _parse_with_config(
        tmp_path, monkeypatch, text.replace("max_active_tis_per_dagrun: null", "max_active_tis_per_dagrun: 0")
    )
    [error] = bag.import_errors.values()
    assert "key 'process_batch.max_active_tis_per_dagrun'" in error and str(tmp_path / "config.yaml") in error
