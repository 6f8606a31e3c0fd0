"""The archive as an Airflow Asset: what downstream DAGs schedule on.

The asset is the archive's S3 location, ``s3://{bucket}/{prefix}`` (its name is that URI too), read
from the config file's ``s3`` section when the DAG is parsed — a local file read, no connection and
no query. Naming it by its location keeps a changed ``s3.bucket``/``s3.prefix`` from colliding with
the asset of the old location: Airflow keeps asset names unique and would leave a renamed-location
asset inactive (and ``finalize``, its producer, failing) until the scheduler orphans the old one.
"""

from __future__ import annotations

from pathlib import Path

from airflow.sdk import Asset, AssetAlias

from message_export.config import load_archive_settings


def archive_uri(config_file: Path | str | None = None) -> str:
    """Return ``s3://{bucket}/{prefix}`` from the config file's ``s3`` section."""
    settings = load_archive_settings(config_file)
    return f"s3://{settings.bucket}/{settings.prefix}"


def archive_asset(config_file: Path | str | None = None) -> Asset:
    """Return the archive's Asset (name and URI: its S3 location)."""
    return Asset(uri=archive_uri(config_file))


# The alias through which announce_late_days emits one event on the archive asset per day completed late
# (a task emits at most one event per asset it names; through an alias, one per distinct ``extra``).
LATE_DAYS_ALIAS = "message_export_late_days"


def late_days_alias() -> AssetAlias:
    """Return the alias of the events of days completed late (each an event on :func:`archive_asset`)."""
    return AssetAlias(LATE_DAYS_ALIAS)
