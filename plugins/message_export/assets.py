"""The archive as an Airflow Asset: what downstream DAGs schedule on.

The asset's URI is the archive's S3 location, ``s3://{bucket}/{prefix}``, read from the config
file's ``s3`` section when the DAG is parsed — a local file read, no connection and no query. Its
name stays ``message_export_archive`` whatever the location.
"""

from __future__ import annotations

from pathlib import Path

from airflow.sdk import Asset

from message_export.config import load_archive_settings

ARCHIVE_ASSET_NAME = "message_export_archive"


def archive_asset(config_file: Path | str | None = None) -> Asset:
    """Return the archive's Asset, located from the config file's ``s3`` section."""
    settings = load_archive_settings(config_file)
    return Asset(name=ARCHIVE_ASSET_NAME, uri=f"s3://{settings.bucket}/{settings.prefix}")
