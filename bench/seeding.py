"""Seeding the Elasticsearch-compatible server: one UTC day per data set, realistic messages for the
exports, ids-only bulk for the extraction."""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from elasticsearch import Elasticsearch

from bench.profiles import Profile

# The extraction window is read for its ids only: small bodies keep the server's memory in check.
EXTRACTION_BODY_BYTES = 64


@dataclass(frozen=True)
class DataSet:
    name: str
    day: datetime
    messages: int
    body_bytes: int
    max_related: int


def data_sets(profile: Profile) -> list[DataSet]:
    sets = [
        DataSet(f"scaling-{size}", day, size, profile.body_bytes, profile.max_related)
        for size, day in zip(profile.scaling_sizes, profile.scaling_days, strict=True)
    ]
    sets.append(
        DataSet("airflow", profile.airflow_day, profile.airflow_messages, profile.body_bytes, profile.max_related)
    )
    sets.append(DataSet("extraction", profile.extraction_day, profile.extraction_ids, EXTRACTION_BODY_BYTES, 0))
    return sets


def seed_all(es_url: str, profile: Profile) -> dict[str, Any]:
    """Create the indices and load every data set; return what was loaded and how long it took."""
    from devstack.sample_data import SampleSpec, create_indices, seed

    es = Elasticsearch(es_url, request_timeout=600)
    loaded: dict[str, Any] = {}
    started = time.perf_counter()
    try:
        create_indices(es)
        for number, data in enumerate(data_sets(profile)):
            began = time.perf_counter()
            summary = seed(
                es,
                SampleSpec(
                    start=data.day,
                    days=1,
                    messages_per_day=data.messages,
                    seed=number,
                    body_bytes=data.body_bytes,
                    max_related=data.max_related,
                ),
            )
            loaded[data.name] = {
                "day": data.day.date().isoformat(),
                "messages": data.messages,
                "summary": _plain(summary),
                "seconds": time.perf_counter() - began,
            }
    finally:
        es.close()
    return {"sets": loaded, "seconds": time.perf_counter() - started}


def _plain(value: Any) -> Any:
    if hasattr(value, "__dataclass_fields__"):
        from dataclasses import asdict

        return asdict(value)
    return value
