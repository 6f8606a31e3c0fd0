"""What a step knows of its run: the Airflow run's details, the window passed in XCom, its config and services."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from airflow.sdk.exceptions import (
    AirflowSkipException,
)

from message_export.config import ExportConfig, load_config
from message_export.export import ExportServices
from message_export.model import Job
from message_export.windows import (
    Window,
)


@dataclass(frozen=True)
class DagRunInfo:
    """What a step needs to know about the Airflow run it belongs to."""

    run_id: str
    run_type: str
    logical_date: datetime | None
    data_interval_start: datetime | None
    data_interval_end: datetime | None
    params: Mapping[str, Any]

    @classmethod
    def from_context(cls, context: Mapping[str, Any]) -> DagRunInfo:
        dag_run = context["dag_run"]
        run_type = getattr(dag_run, "run_type", "manual")
        return cls(
            run_id=str(dag_run.run_id),
            run_type=str(getattr(run_type, "value", run_type)),
            logical_date=context.get("logical_date"),
            data_interval_start=context.get("data_interval_start"),
            data_interval_end=context.get("data_interval_end"),
            params=dict(context.get("params") or {}),
        )


def window_payload(job: Job, reprocess: bool, bound: datetime) -> dict[str, Any]:
    return {
        "job_id": job.job_id,
        "start_date": job.window.start.isoformat(),
        "end_date": job.window.end.isoformat(),
        "reprocess": reprocess,
        "bound": bound.isoformat(),
    }


def window_of(payload: Mapping[str, Any]) -> Window:
    return Window(datetime.fromisoformat(payload["start_date"]), datetime.fromisoformat(payload["end_date"]))


def configured(config: ExportConfig | None, services: ExportServices | None) -> tuple[ExportConfig, ExportServices]:
    """The step's config and services: those given, else the config file's and services built from it."""
    config = config or load_config()
    return config, services or ExportServices.from_config(config)


def require_window(window: Mapping[str, Any] | None, step: str) -> Mapping[str, Any]:
    """``retry_failed`` and ``finalize`` run whatever happened upstream; without a window (the schema
    or window step failed) there is nothing of this run to retry or close."""
    if window is None:
        raise AirflowSkipException(
            f"{step}: no window was resolved for this run (ensure_schema or resolve_window failed; "
            "their log says why), so there is nothing to do"
        )
    return window
