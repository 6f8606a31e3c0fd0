"""Airflow's own record of the export's runs, read from the metadata database of the api-server the
dashboard is mounted in (the page already has read access to the DAG's runs to be served at all)."""

from __future__ import annotations

from collections.abc import Collection
from datetime import UTC, datetime

from airflow.models.dagrun import DagRun
from airflow.utils.session import create_session
from sqlalchemy import select

from message_export.dashboard.trends import RunTimes
from message_export.names import DAG_ID

# ids per statement: a year of days is one or two statements
CHUNK = 500


def _aware(value: datetime | None) -> datetime | None:
    return value if value is None or value.tzinfo is not None else value.replace(tzinfo=UTC)


def run_times(run_ids: Collection[str]) -> dict[str, RunTimes]:
    """Start and end of each of the export DAG's runs in ``run_ids`` that Airflow still knows."""
    wanted = sorted(set(run_ids))
    found: dict[str, RunTimes] = {}
    with create_session() as session:
        for offset in range(0, len(wanted), CHUNK):
            statement = select(DagRun.run_id, DagRun.start_date, DagRun.end_date).where(
                DagRun.dag_id == DAG_ID, DagRun.run_id.in_(wanted[offset : offset + CHUNK])
            )
            for run_id, start, end in session.execute(statement):
                found[run_id] = RunTimes(_aware(start), _aware(end))
    return found
