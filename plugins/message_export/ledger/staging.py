"""Staged extraction: a window's ids stream into a staging table of the job, each batch holds a
range of it in message_id order, and the range enters ``message_tracking`` when the batch is first
claimed. ``track_staged_ids`` ends the lifecycle wherever ids may still be staged."""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from typing import Any

from message_export.batching import BatchPlan
from message_export.ledger.connection import INSERT_CHUNK, LedgerConnection
from message_export.ledger.errors import NO_SUCH_TABLE, TrackingError, mysql_error_code
from message_export.ledger.values import ABOVE_EVERY_ID, id_bytes, id_text
from message_export.resources import load_sql

log = logging.getLogger(__name__)
STAGING_PREFIX = "message_tracking_staging_"


class LedgerStaging(LedgerConnection):
    """The staging table of a job, from the first staged id to the last one tracked."""

    @staticmethod
    def staging_table(job_id: int) -> str:
        """The name of job ``job_id``'s staging table."""
        # the only interpolated identifier: built from the integer job id, nothing else
        return f"{STAGING_PREFIX}{int(job_id):d}"

    @classmethod
    def staging_sql(cls, name: str, job_id: int) -> str:
        """The statement ``include/sql/<name>.sql`` with job ``job_id``'s staging table in it."""
        return load_sql(name).replace("{table}", cls.staging_table(job_id))

    def start_staging(self, job_id: int) -> None:
        """Create the job's empty staging table (dropping one an earlier attempt left); until
        ``stage_batches`` runs, none of the job's batches holds staged ids."""
        drop = self.staging_sql("ledger/drop_staged_ids", job_id)
        create = self.staging_sql("ledger/create_staged_ids", job_id)
        unstage = load_sql("ledger/unstage_job_batches")

        def work(cursor: Any) -> None:
            cursor.execute(unstage, {"job_id": job_id})
            cursor.execute(drop)
            cursor.execute(create)

        self.run_transaction(work)

    def stage_ids(self, job_id: int, message_ids: Sequence[str]) -> None:
        """Add ``message_ids`` to the job's staging table (an id already there is a no-op), one
        statement per ``INSERT_CHUNK`` ids."""
        sql = self.staging_sql("ledger/stage_ids", job_id)
        for start in range(0, len(message_ids), INSERT_CHUNK):
            page = json.dumps([id_bytes(mid).hex() for mid in message_ids[start : start + INSERT_CHUNK]])
            self.run_transaction(lambda cursor, page=page: cursor.execute(sql, {"ids": page}))

    def stage_batches(self, job_id: int, batch_ids: dict[int, int], plan: BatchPlan) -> int:
        """Give each batch of ``plan`` (``batch_number -> batch_id``) its range of the job's staged ids
        in message_id order: ``plan.batch_size`` each, the last batch the rest (ids beyond the planned
        total too), and batches no id is left for none. Each batch tracks its range when first
        claimed. Return how many ids are staged."""
        boundary = self.staging_sql("ledger/staged_boundary", job_id)
        rest = self.staging_sql("ledger/staged_from", job_id)

        def fetch(cursor: Any, sql: str, params: dict[str, Any]) -> Any:
            cursor.execute(sql, params)
            row = cursor.fetchone()
            return row[0] if row else None

        rows: list[tuple[bytes | None, bytes | None, int, int]] = []
        first: bytes | None = b""  # every id is >= the empty string
        for number in range(plan.batch_count):
            if first is None:  # no id left for this batch
                rows.append((None, None, 0, batch_ids[number]))
                continue
            after = None
            if number < plan.batch_count - 1:
                params = {"first_id": first, "size": plan.batch_size}
                after = self.run_transaction(lambda cursor, params=params: fetch(cursor, boundary, params))
            if after is None:
                count = self.run_transaction(lambda cursor, first=first: fetch(cursor, rest, {"first_id": first}))
                rows.append((first, None, int(count), batch_ids[number]))
                first = None
            else:
                rows.append((first, bytes(after), plan.batch_size, batch_ids[number]))
                first = bytes(after)
        self.execute_rows("ledger/stage_batches", rows)
        return sum(row[2] for row in rows)

    def track_staged_batch(self, batch_id: int) -> int:
        """Track the ids batch ``batch_id`` still holds staged as pending, in message_id order (ids
        already tracked keep their rows); a no-op once they are.

        :return: rows the statement reported (inserted ids count once, existing ones not at all).
        """
        select, start_of = load_sql("ledger/staged_batch"), load_sql("ledger/job_start_date")
        done = load_sql("ledger/batch_tracked")

        def work(cursor: Any) -> int:
            cursor.execute(select, {"batch_id": batch_id})
            row = cursor.fetchone()
            if row is None or not row[2]:
                return 0
            first, end, staged, job_id = bytes(row[0]), row[1], int(row[2]), int(row[3])
            cursor.execute(start_of, {"job_id": job_id})
            (start_date,) = cursor.fetchone()
            params = {
                "job_id": job_id,
                "batch_id": batch_id,
                "start_date": start_date,
                "first_id": first,
                "end_id": ABOVE_EVERY_ID if end is None else bytes(end),
            }
            try:
                tracked = cursor.execute(self.staging_sql("ledger/track_staged_batch", job_id), params)
            except Exception as error:
                if mysql_error_code(error) != NO_SUCH_TABLE:
                    raise
                raise TrackingError(
                    f"batch_id {batch_id} of job {job_id} holds {staged} staged ids, but "
                    f"{self.staging_table(job_id)} is gone from {self.describe_target()}; run the "
                    "window's extraction again (trigger the DAG with its start_date) to stage them anew"
                ) from None
            cursor.execute(done, {"batch_id": batch_id})
            return int(tracked)

        return int(self.run_transaction(work))

    def track_staged_ids(self, job_id: int) -> int:
        """Track every id the job's batches still hold staged (as pending), then drop the job's staging
        table, which no batch needs any more. Call it wherever ids of the job may still be staged.

        :return: how many ids were tracked now.
        """
        tracked = sum(
            self.track_staged_batch(int(batch_id))
            for (batch_id,) in self.fetch_rows("ledger/staged_job_batches", {"job_id": job_id})
        )
        self.run_transaction(lambda cursor: cursor.execute(self.staging_sql("ledger/drop_staged_ids", job_id)))
        return tracked

    def staged_count(self, job_id: int) -> int:
        """How many of the job's ids are staged and not tracked yet (pending, unclaimed)."""
        return int(self.fetch_rows("ledger/job_staged_count", {"job_id": job_id})[0][0])

    def drop_abandoned_staging(self) -> None:
        """Track and drop the staging tables of jobs that are not running.

        A job that is not running has no extraction or batch that could still use its staging
        table (finalize tracks what is left and drops it; a worker that died in between leaves it
        behind). Ids its batches still hold are tracked first, so none is lost with the table.
        """
        staged = {
            int(text[len(STAGING_PREFIX) :])
            for (name,) in self.fetch_rows("ledger/list_staging_tables")
            if (text := id_text(name)).startswith(STAGING_PREFIX) and text[len(STAGING_PREFIX) :].isdigit()
        }
        if not staged:
            return
        running = {int(job_id) for (job_id,) in self.fetch_rows("ledger/running_jobs")}
        for job_id in sorted(staged - running):
            tracked = self.track_staged_ids(job_id)
            log.info(
                "dropped the staging table of job %s, which is not running (%d ids its batches still held "
                "tracked first)",
                job_id,
                tracked,
            )
