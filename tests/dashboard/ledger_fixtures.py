"""A small real ledger for the dashboard tests: generated days plus one day of hostile message ids
written through the tracking hook's own write path (open, track, claim, record)."""

from __future__ import annotations

import hashlib
import json
import os
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

import MySQLdb

from devstack.connections import mysql_connection
from devstack.ledger_generator import LedgerShape, generate_ledger
from message_export.gzip_members import batch_object_key, gzip_member
from message_export.ledger.hook import MessageTrackingHook
from message_export.model import MessageOutcome
from message_export.windows import Window
from tests.fixtures.ledger_rows import track_pending

MYSQL = {
    "host": os.environ.get("MYSQL_TEST_HOST", "127.0.0.1"),
    "port": int(os.environ.get("MYSQL_TEST_PORT", "3306")),
    "user": os.environ.get("MYSQL_TEST_USER", "root"),
    "password": os.environ.get("MYSQL_TEST_PASSWORD", ""),
}
CONN_ID = "dashboard_ledger"
# Ids a page must show exactly as stored: markup, quotes, a decomposed (NFD) é, trailing spaces.
HOSTILE_IDS = (
    '<script>alert("x")</script>',
    'it\'s "quoted" & <b>bold</b>',
    "cafe\u0301",  # NFD: 'e' + combining acute
    "café",  # NFC: a different id
    "trailing  ",
)
ARCHIVE_BUCKET = "message-archive"
HOSTILE_REASON = '<img src=x onerror="alert(1)"> failed: <b>not</b> found'


@dataclass(frozen=True)
class ArchivedSample:
    """An archived message of the hostile day: its document and where the ledger says it is."""

    message_id: str
    document: bytes
    s3_uri: str
    offset: int | None = None
    length: int | None = None


# writes one object into the archive bucket (key, bytes); None: the ledger only, no archive
ObjectWriter = Callable[[str, bytes], None] | None


@dataclass(frozen=True)
class DashboardLedger:
    database: str
    conn_id: str
    connection_json: str
    shape: LedgerShape
    hostile_day: date
    archived_id: str
    archived_uri: str
    # the hostile day's other archived message: a gzip member inside a batch-layout object
    member: ArchivedSample

    @contextmanager
    def admin_cursor(self) -> Iterator[Any]:
        """A cursor of the MySQL admin on the ledger (the dashboard itself only reads); committed at the end."""
        admin = MySQLdb.connect(
            host=MYSQL["host"], port=MYSQL["port"], user=MYSQL["user"], passwd=MYSQL["password"], db=self.database
        )
        try:
            with admin.cursor() as cursor:
                yield cursor
            admin.commit()
        finally:
            admin.close()


def connection_json(database: str) -> str:
    return json.dumps(mysql_connection(MYSQL, database))


def _archive_samples(day: date, put_object: ObjectWriter) -> tuple[ArchivedSample, ArchivedSample]:
    """archived-1 as a message-layout object of its own; archived-2 as the second gzip member of a
    batch-layout object (the first member is another document, so its byte range starts past 0)."""
    prefix = f"messages/dt={day.isoformat()}"
    whole = ArchivedSample(
        "archived-1",
        json.dumps({"message_id": "archived-1", "body": "first archived ✓"}).encode(),
        f"s3://{ARCHIVE_BUCKET}/{prefix}/archived-1.json",
    )
    document = json.dumps({"message_id": "archived-2", "body": '<b>"second"</b> & café'}).encode()
    first, second = gzip_member(b'{"message_id": "earlier"}'), gzip_member(document)
    data = first + second
    key = batch_object_key("messages", day, hashlib.sha256(data).digest())
    member = ArchivedSample("archived-2", document, f"s3://{ARCHIVE_BUCKET}/{key}", len(first), len(second))
    if put_object is not None:
        put_object(f"{prefix}/archived-1.json", whole.document)
        put_object(key, data)
    return whole, member


def _write_hostile_day(
    hook: MessageTrackingHook, day: date, put_object: ObjectWriter
) -> tuple[ArchivedSample, ArchivedSample]:
    """A running day whose failures carry hostile ids and reasons, and two archived messages (one in each
    archive layout, written to the archive when ``put_object`` is given)."""
    job = hook.open_job(Window.for_day(day), "manual__hostile")
    batches = hook.ensure_batches(job.job_id, [0, 1])
    ids = [*HOSTILE_IDS, "archived-1", "archived-2", "waiting-1"]
    track_pending(hook, job, [(mid, batches[0] if i < 5 else batches[1]) for i, mid in enumerate(ids)])
    hook.complete_extraction(job.job_id)
    token = uuid.uuid4().hex
    claimed = {m.message_id: m for m in hook.claim_batch(batches[0], token, 600, 5)}
    claimed.update({m.message_id: m for m in hook.claim_batch(batches[1], token, 600, 5)})
    whole, member = _archive_samples(day, put_object)
    outcomes = [MessageOutcome.failed(claimed[mid], HOSTILE_REASON) for mid in HOSTILE_IDS]
    for sample in (whole, member):
        outcomes.append(
            MessageOutcome.archived(
                claimed[sample.message_id],
                sample.s3_uri,
                len(sample.document),
                hashlib.sha256(sample.document).digest(),
                archive_offset=sample.offset,
                archive_length=sample.length,
            )
        )
    hook.record_results(token, outcomes)
    # waiting-1 stays leased (in progress): the day is still running
    hook.refresh_batches(list(batches.values()))
    return whole, member


@contextmanager
def dashboard_ledger(
    shape: LedgerShape, hostile_day: date, put_object: ObjectWriter = None
) -> Iterator[DashboardLedger]:
    """Create a database, fill it, point ``AIRFLOW_CONN_DASHBOARD_LEDGER`` at it; drop it afterwards.
    With ``put_object`` the hostile day's archived messages are written to the archive too."""
    name = f"message_export_dash_{uuid.uuid4().hex[:10]}"
    admin = MySQLdb.connect(host=MYSQL["host"], port=MYSQL["port"], user=MYSQL["user"], passwd=MYSQL["password"])
    with admin.cursor() as cursor:
        cursor.execute(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4 COLLATE utf8mb4_bin")
    previous = os.environ.get(f"AIRFLOW_CONN_{CONN_ID.upper()}")
    os.environ[f"AIRFLOW_CONN_{CONN_ID.upper()}"] = connection_json(name)
    hook = MessageTrackingHook(CONN_ID)
    try:
        hook.ensure_schema()
        conn = MySQLdb.connect(
            host=MYSQL["host"], port=MYSQL["port"], user=MYSQL["user"], passwd=MYSQL["password"], db=name
        )
        try:
            generate_ledger(conn, shape)
        finally:
            conn.close()
        whole, member = _write_hostile_day(hook, hostile_day, put_object)
        yield DashboardLedger(
            name, CONN_ID, connection_json(name), shape, hostile_day, whole.message_id, whole.s3_uri, member
        )
    finally:
        hook.close()
        if previous is None:
            os.environ.pop(f"AIRFLOW_CONN_{CONN_ID.upper()}", None)
        else:
            os.environ[f"AIRFLOW_CONN_{CONN_ID.upper()}"] = previous
        with admin.cursor() as cursor:
            cursor.execute(f"DROP DATABASE IF EXISTS `{name}`")
        admin.close()


def recent_shape(now: datetime, days: int = 6, messages_per_day: int = 1200) -> LedgerShape:
    """Generated days ending the day before the hostile day, which is yesterday of ``now``."""
    yesterday = now.date() - timedelta(days=1)
    return LedgerShape(
        first_day=yesterday - timedelta(days=days),
        days=days,
        messages_per_day=messages_per_day,
        batch_size=500,
        failed_every=300,
        running_days=1,
    )


@contextmanager
def read_only_login(database: str) -> Iterator[tuple[str, str]]:
    """A MySQL user that may only SELECT from ``database`` (what the dashboard needs); dropped afterwards."""
    user, password = f"dash_ro_{uuid.uuid4().hex[:8]}", f"ro-secret-{uuid.uuid4().hex}"
    admin = MySQLdb.connect(host=MYSQL["host"], port=MYSQL["port"], user=MYSQL["user"], passwd=MYSQL["password"])
    try:
        with admin.cursor() as cursor:
            cursor.execute("CREATE USER %s@'%%' IDENTIFIED BY %s", (user, password))
            cursor.execute(f"GRANT SELECT ON `{database}`.* TO %s@'%%'", (user,))
        yield user, password
    finally:
        with admin.cursor() as cursor:
            cursor.execute("DROP USER IF EXISTS %s@'%%'", (user,))
        admin.close()


def connection_json_as(database: str, user: str, password: str) -> str:
    values = json.loads(connection_json(database))
    return json.dumps({**values, "login": user, "password": password})
