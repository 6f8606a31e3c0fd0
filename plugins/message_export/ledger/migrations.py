"""The ledger's versioned schema: a baseline and numbered migrations, applied in order and recorded.

``include/sql/schema/create_*.sql`` is the baseline: a new ledger is created from it and records
the migrations it already holds (1 to ``BASELINE_VERSION``). ``include/sql/migrations/NNNN_name.sql``
are the changes, each recorded in ``ledger_schema_migrations`` once applied. A ledger created
before versions were recorded has no such table: every migration is applied to it, each step that
is already in place (a column or index that exists, or one already gone) being skipped.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from message_export.ledger.connection import LedgerConnection
from message_export.ledger.errors import (
    ALREADY_MIGRATED,
    TrackingError,
    TrackingUnavailableError,
    is_transient,
    mysql_error_code,
)
from message_export.ledger.values import id_text
from message_export.resources import DeploymentError, include_path, load_sql

log = logging.getLogger(__name__)

BASELINE_TABLES = ("create_job_runs", "create_batch_progress", "create_message_tracking")
# the last migration the baseline's create_*.sql already hold: a migration is folded into the baseline
# (its columns added to create_*.sql) together with this number, never one without the other
BASELINE_VERSION = 7
LEDGER_TABLES = frozenset({"job_runs", "batch_progress", "message_tracking"})
VERSION_TABLE = "ledger_schema_migrations"
LOCK_TIMEOUT_SECONDS = 120
_FILE_NAME = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")
_STATEMENT_END = re.compile(r";\s*$", re.MULTILINE)


@dataclass(frozen=True)
class Migration:
    """One file of ``include/sql/migrations``: its version, name and statements, in order."""

    version: int
    name: str
    statements: tuple[str, ...]

    @property
    def label(self) -> str:
        return f"{self.version:04d}_{self.name}"


def parse_migration(file_name: str, text: str) -> Migration:
    """Read ``NNNN_name.sql``: statements end with ``;`` at the end of a line; ``--`` lines are comments."""
    match = _FILE_NAME.match(file_name)
    if match is None:
        raise DeploymentError(
            f"include/sql/migrations/{file_name}: a migration is named NNNN_name.sql (four digits, lower-case name)"
        )
    body = "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("--"))
    statements = tuple(part.strip() for part in _STATEMENT_END.split(body) if part.strip())
    if not statements:
        raise DeploymentError(f"include/sql/migrations/{file_name} holds no statement")
    return Migration(int(match[1]), match[2], statements)


def ordered_migrations(migrations: Iterable[Migration]) -> list[Migration]:
    """Sort migrations by version; two with one version, or a gap in the numbers, is a packaging error."""
    ordered = sorted(migrations, key=lambda migration: migration.version)
    for expected, migration in enumerate(ordered, start=1):
        if migration.version != expected:
            raise DeploymentError(
                f"include/sql/migrations: expected version {expected:04d}, found {migration.label}; versions run "
                "1, 2, 3, ... without gaps or duplicates — deploy the folder of one package version"
            )
    return ordered


def packaged_migrations() -> list[Migration]:
    """The migrations deployed with this package version, in order."""
    folder = include_path("sql/migrations")
    return ordered_migrations(
        parse_migration(path.name, path.read_text(encoding="utf-8")) for path in folder.glob("*.sql")
    )


def pending_migrations(migrations: Iterable[Migration], applied: Iterable[int]) -> list[Migration]:
    """The migrations not yet applied, in the order they must run."""
    done = set(applied)
    return [migration for migration in migrations if migration.version not in done]


class LedgerMigrations(LedgerConnection):
    """Brings the ledger's schema to this package version's, one worker at a time."""

    def migrate_schema(self) -> int:
        """Create a new ledger or apply the migrations an existing one lacks; return its version."""
        migrations = packaged_migrations()
        if not self.run_transaction(self._acquire_migration_lock):
            raise TrackingUnavailableError(
                f"{self.describe_target()}: another worker has been changing the ledger's schema for "
                f"{LOCK_TIMEOUT_SECONDS}s; the task's retry will try again (see that worker's ensure_schema log)"
            )
        try:
            self._adopt_or_create(migrations)
            applied = [int(version) for (version,) in self.fetch_rows("schema/applied_migrations")]
            for migration in pending_migrations(migrations, applied):
                self._apply(migration)
        finally:
            self.fetch_rows("schema/release_migration_lock")
        return migrations[-1].version if migrations else 0

    @staticmethod
    def _acquire_migration_lock(cursor: Any) -> bool:
        cursor.execute(load_sql("schema/acquire_migration_lock"), {"timeout": LOCK_TIMEOUT_SECONDS})
        row = cursor.fetchone()
        return bool(row and row[0])

    def _adopt_or_create(self, migrations: list[Migration]) -> None:
        tables = {id_text(name) for (name,) in self.fetch_rows("schema/ledger_tables")}
        if VERSION_TABLE in tables:
            if missing := LEDGER_TABLES - tables:
                raise TrackingError(
                    f"{self.describe_target()}: {VERSION_TABLE} records a ledger, but {', '.join(sorted(missing))} "
                    f"is missing; restore it from a backup, or drop every ledger table and {VERSION_TABLE} to let "
                    "ensure_schema create a new, empty ledger"
                )
            return
        for name in BASELINE_TABLES:  # IF NOT EXISTS: an existing table is left to the migrations
            self.execute_statement(f"schema/{name}")
        self.execute_statement("schema/create_schema_migrations")
        if tables & LEDGER_TABLES:
            log.info(
                "ledger schema: %s has no recorded version (created before versions were recorded); applying "
                "every migration, skipping the steps already in place",
                ", ".join(sorted(tables & LEDGER_TABLES)),
            )
            return
        for migration in migrations[:BASELINE_VERSION]:
            self.execute_statement(
                "schema/record_migration", {"version": migration.version, "name": migration.name, "how": "baseline"}
            )
        log.info("ledger schema: created job_runs, batch_progress, message_tracking at version %d", BASELINE_VERSION)

    def _apply(self, migration: Migration) -> None:
        started = time.monotonic()
        skipped = 0
        for statement in migration.statements:
            try:
                self.run_transaction(lambda cursor, statement=statement: cursor.execute(statement))
            except Exception as error:
                if is_transient(error):
                    raise
                if mysql_error_code(error) not in ALREADY_MIGRATED:
                    raise TrackingError(
                        f"{self.describe_target()}: migration include/sql/migrations/{migration.label}.sql failed "
                        f"at `{statement.splitlines()[0]} ...`: {error}; fix the cause and run the DAG again "
                        "(the steps already made are skipped)"
                    ) from error
                skipped += 1
        self.execute_statement(
            "schema/record_migration", {"version": migration.version, "name": migration.name, "how": "migrated"}
        )
        log.info(
            "ledger schema: applied migration %s in %.1fs%s",
            migration.label,
            time.monotonic() - started,
            f" ({skipped} of {len(migration.statements)} steps were already in place)" if skipped else "",
        )
