"""The export configuration file, validated at load time.

The sections are strict pydantic models (an unknown key is an error naming it); the notification
sections live in :mod:`message_export.config.notifications`.
"""

from __future__ import annotations

import os
import re
from datetime import date
from pathlib import Path
from typing import Literal, TypeVar

import yaml
from pydantic import BaseModel, Field, ValidationError, field_validator, model_validator

from message_export.config.notifications import NotificationSettings
from message_export.config.strict import ConfigError, StrictSection
from message_export.resources import include_path
from message_export.throttle import ThrottleLimits

CONFIG_ENV = "MESSAGE_EXPORT_CONFIG"
DEFAULT_CONFIG = "config/message_export.yaml"

# Index and field names end up in request paths and queries: only allow what Elasticsearch allows.
_INDEX_NAME = re.compile(r"^[a-z0-9][a-z0-9._+-]{0,254}$")
_FIELD_NAME = re.compile(r"^[A-Za-z0-9_@][A-Za-z0-9_.@-]{0,254}$")
_SECTION_NAME = re.compile(r"^[a-z][a-z0-9_]{0,62}$")
_BUCKET_NAME = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")


class Connections(StrictSection):
    elasticsearch: str = "elasticsearch_default"
    mysql: str = "mysql_default"
    aws: str = "aws_default"


class SearchSettings(StrictSection):
    engine: Literal["elasticsearch", "opensearch"] = "elasticsearch"
    message_index: str
    timestamp_field: str = "timestamp"
    related_id_field: str = "message_id"
    related: dict[str, str] = Field(default_factory=dict)
    page_size: int = Field(5000, ge=100, le=10000)
    pit_keep_alive: str = "5m"
    request_timeout: float = Field(60.0, gt=0)
    max_retries: int = Field(6, ge=0, le=20)
    # The load on the cluster, per worker process (null switches a limit off); see docs/operating.md,
    # "Protecting the search cluster".
    max_requests_per_second: float | None = Field(20.0, gt=0, le=10000)
    max_concurrent_requests: int | None = Field(4, ge=1, le=256)
    slowdown_factor: float = Field(0.5, gt=0, lt=1)
    min_requests_per_second: float = Field(1.0, gt=0)
    recovery_requests: int = Field(50, ge=1, le=100000)

    @field_validator("message_index")
    @classmethod
    def _index(cls, value: str) -> str:
        if not _INDEX_NAME.match(value):
            raise ValueError(f"{value!r} is not a valid Elasticsearch index name")
        return value

    @field_validator("timestamp_field", "related_id_field")
    @classmethod
    def _field(cls, value: str) -> str:
        if not _FIELD_NAME.match(value):
            raise ValueError(f"{value!r} is not a valid field name")
        return value

    @field_validator("related")
    @classmethod
    def _related(cls, value: dict[str, str]) -> dict[str, str]:
        for section, index in value.items():
            if section in ("message_id", "message") or not _SECTION_NAME.match(section):
                raise ValueError(f"section name {section!r} must be lower_snake_case and not message/message_id")
            if not _INDEX_NAME.match(index):
                raise ValueError(f"{index!r} (section {section!r}) is not a valid Elasticsearch index name")
        return value

    @model_validator(mode="after")
    def _rate_floor(self) -> SearchSettings:
        limit, floor = self.max_requests_per_second, self.min_requests_per_second
        if limit is not None and floor > limit:
            raise ValueError(
                f"min_requests_per_second ({floor:g}) is above max_requests_per_second ({limit:g}): the rate "
                "a 429 can lower it to must not exceed the limit; lower min_requests_per_second or raise the limit"
            )
        return self

    def throttle_limits(self) -> ThrottleLimits:
        """The limits on the load this worker process puts on the cluster."""
        return ThrottleLimits(
            max_requests_per_second=self.max_requests_per_second,
            max_concurrent_requests=self.max_concurrent_requests,
            slowdown_factor=self.slowdown_factor,
            min_requests_per_second=self.min_requests_per_second,
            recovery_requests=self.recovery_requests,
        )


class ArchiveSettings(StrictSection):
    bucket: str
    prefix: str = "messages"
    server_side_encryption: Literal["AES256", "aws:kms", "none"] = "AES256"
    kms_key_id: str | None = None
    acl: Literal["bucket-owner-full-control", "private"] | None = None
    max_concurrency: int = Field(32, ge=1, le=256)
    read_timeout: float = Field(60.0, gt=0)
    # how messages become objects: one object each, or one indexed gzip object per batch pass
    # (docs/archive.md, "Layouts"); chosen once, in message_export.layouts.archive_layout
    layout: Literal["message", "batch"] = "message"
    batch_object_max_bytes: int = Field(64 * 1024 * 1024, ge=1024 * 1024, le=4 * 1024 * 1024 * 1024)
    batch_object_max_messages: int = Field(100_000, ge=1, le=1_000_000)

    @field_validator("bucket")
    @classmethod
    def _bucket(cls, value: str) -> str:
        if not _BUCKET_NAME.match(value):
            raise ValueError(f"{value!r} is not a valid S3 bucket name")
        return value

    @field_validator("prefix")
    @classmethod
    def _prefix(cls, value: str) -> str:
        value = value.strip("/")
        if not value or len(value) > 200 or any(ord(c) < 32 for c in value):
            raise ValueError(f"{value!r} must be 1-200 printable characters")
        return value

    @model_validator(mode="after")
    def _kms(self) -> ArchiveSettings:
        if self.kms_key_id and self.server_side_encryption != "aws:kms":
            raise ValueError("kms_key_id is set but server_side_encryption is not 'aws:kms'")
        return self


class RetrySettings(StrictSection):
    backoff_seconds: float = Field(30.0, ge=0)
    max_backoff_seconds: float = Field(900.0, ge=0)
    time_budget_seconds: float = Field(600.0, ge=0)


class RetentionSettings(StrictSection):
    """How long ``message_tracking`` keeps the rows of completed days (``job_runs`` keeps its rows forever)."""

    keep_days: int | None = Field(None, ge=1, le=36500)
    """Rows of a completed day go once the day ended and its export last finished this many days
    ago; ``None`` keeps them forever (what a config without a ``retention`` section gets)."""
    chunk_rows: int = Field(5000, ge=100, le=50000)
    """Rows removed per transaction: each chunk holds its row locks only for its own short delete."""
    time_budget_seconds: float = Field(1800.0, gt=0)
    """A run stops purging after this long; what is left goes in the next run."""

    @field_validator("keep_days", mode="before")
    @classmethod
    def _keep_days(cls, value: object) -> object:
        if isinstance(value, bool) or (isinstance(value, int) and value < 1):
            raise ValueError(
                "must be a whole number of days >= 1 (to keep every row forever, set keep_days: null "
                "or remove the retention section)"
            )
        return value

    @property
    def enabled(self) -> bool:
        return self.keep_days is not None


class BatchTaskSettings(StrictSection):
    """How many ``process_batch`` tasks run at once: Airflow's own caps, set on the task when the DAG is parsed."""

    pool: str | None = Field(
        None,
        min_length=1,
        max_length=256,
        description=(
            "The Airflow pool process_batch runs in: its slots cap the mapped batches running at once across "
            "every run (and whatever else shares the pool). The pool must exist (`airflow pools set NAME SLOTS "
            "DESCRIPTION`): a task in a pool that does not exist is never scheduled. None: Airflow's default_pool."
        ),
    )
    max_active_tis_per_dagrun: int | None = Field(
        None,
        ge=1,
        le=1024,
        description=(
            "At most this many process_batch tasks of one run at once (the DAG allows one active run, so this is "
            "the export's cap). None: no cap beyond the pool's slots and Airflow's own limits."
        ),
    )

    @field_validator("pool")
    @classmethod
    def _pool(cls, value: str | None) -> str | None:
        if value is not None and value != value.strip():
            raise ValueError(f"pool name {value!r} has leading or trailing spaces; Airflow would not find the pool")
        return value

    def task_arguments(self) -> dict[str, str | int]:
        """The ``@task`` arguments of the caps that are set; an unset one is left out, not passed as ``None``
        (a mapped task given ``pool=None`` would have no pool instead of Airflow's ``default_pool``)."""
        return self.model_dump(exclude_none=True)


class ExportConfig(StrictSection):
    start_date: date
    connections: Connections = Field(default_factory=Connections)
    elasticsearch: SearchSettings
    s3: ArchiveSettings
    batch_size: int = Field(500, ge=1, le=50000)
    max_batches: int = Field(200, ge=1, le=1000)
    max_attempts: int = Field(5, ge=1, le=100)
    process_batch: BatchTaskSettings = Field(default_factory=BatchTaskSettings)
    fetch_chunk_size: int = Field(1000, ge=1, le=10000)
    lease_seconds: int = Field(900, ge=10)
    retry: RetrySettings = Field(default_factory=RetrySettings)
    notifications: NotificationSettings = Field(default_factory=NotificationSettings)
    retention: RetentionSettings = Field(default_factory=RetentionSettings)


SectionT = TypeVar("SectionT", bound=BaseModel)


def config_path() -> Path:
    """Return the config file in use: ``$MESSAGE_EXPORT_CONFIG`` or the packaged default."""
    override = os.environ.get(CONFIG_ENV)
    return Path(override) if override else include_path(DEFAULT_CONFIG)


def _describe(error: ValidationError, path: Path, section: str | None = None) -> str:
    problems = []
    for item in error.errors():
        key = ".".join([*([section] if section else []), *(str(p) for p in item["loc"])]) or "(top level)"
        if item["type"] == "extra_forbidden":
            problems.append(f"unknown key '{key}' (remove it or check its spelling)")
        elif item["type"] == "missing":
            problems.append(f"missing key '{key}'")
        elif isinstance(item.get("input"), dict):
            # a whole section (a notifier's arguments may hold a credential): name its keys, not its values
            problems.append(f"key '{key}': {item['msg']} (keys given: {', '.join(map(str, item['input']))})")
        else:
            problems.append(f"key '{key}': {item['msg']} (got {item.get('input')!r})")
    return f"invalid config {path}: " + "; ".join(problems)


def _read_mapping(path: Path) -> dict:
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"config file {path} does not exist; create it or point {CONFIG_ENV} at one") from None
    except yaml.YAMLError as error:
        raise ConfigError(f"config file {path} is not valid YAML: {error}".replace("\n", " ")) from None
    if not isinstance(raw, dict):
        raise ConfigError(f"config file {path} must hold a mapping of keys, got {type(raw).__name__}")
    return raw


def load_config(path: Path | str | None = None) -> ExportConfig:
    """Read and validate the config file; raise :class:`ConfigError` naming the bad key."""
    path = Path(path) if path else config_path()
    raw = _read_mapping(path)
    try:
        return ExportConfig.model_validate(raw)
    except ValidationError as error:
        raise ConfigError(_describe(error, path)) from None


def _load_section(model: type[SectionT], section: str, path: Path, raw: dict, *, required: bool = False) -> SectionT:
    """Validate one section of the config file; an absent optional section gets the model's defaults."""
    if required and section not in raw:
        raise ConfigError(f"invalid config {path}: missing key '{section}'")
    try:
        return model.model_validate(raw[section] if required else raw.get(section) or {})
    except ValidationError as error:
        raise ConfigError(_describe(error, path, section=section)) from None


def load_archive_settings(path: Path | str | None = None) -> ArchiveSettings:
    """Read and validate only the ``s3`` section: what the DAG needs when it is parsed.

    A mistake elsewhere in the file must not break parsing (the first task reports it with the
    key and the fix); a mistake in ``s3`` raises :class:`ConfigError` naming the key.
    """
    path = Path(path) if path else config_path()
    return _load_section(ArchiveSettings, "s3", path, _read_mapping(path), required=True)


def load_batch_task_settings(path: Path | str | None = None) -> BatchTaskSettings:
    """Read and validate only the ``process_batch`` section: the task's pool and per-run cap, set at parse time.

    Like :func:`load_archive_settings`, a mistake elsewhere in the file does not break parsing; a mistake
    here raises :class:`ConfigError` naming the key. Without the section, Airflow's defaults apply.
    """
    path = Path(path) if path else config_path()
    return _load_section(BatchTaskSettings, "process_batch", path, _read_mapping(path))


def load_notification_settings(path: Path | str | None = None) -> tuple[NotificationSettings, Connections]:
    """Read and validate only the ``notifications`` and ``connections`` sections.

    A failure callback reads just these, so a mistake elsewhere in the file (which failed the run)
    does not also silence the message about it; a mistake here raises :class:`ConfigError`.
    """
    path = Path(path) if path else config_path()
    raw = _read_mapping(path)
    notifications = _load_section(NotificationSettings, "notifications", path, raw)
    return notifications, _load_section(Connections, "connections", path, raw)
