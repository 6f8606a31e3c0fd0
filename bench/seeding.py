"""Seeding the Elasticsearch-compatible server: one UTC day per data set, realistic messages for the
exports, ids-only bulk for the extraction."""

from __future__ import annotations

import time
from dataclasses import asdict
from typing import Any

from elasticsearch import Elasticsearch

from bench.profiles import Profile

# The extraction window is read for its ids only: small bodies keep the server's memory in check.
EXTRACTION_BODY_BYTES = 64


def seed_all(es_url: str, profile: Profile) -> dict[str, Any]:
    """Create the indices and load every data set; return what was loaded and how long it took."""
    from devstack.sample_data import SampleSpec, create_indices, seed

    # (name, day, messages, body bytes, related documents at most)
    data_sets = [
        (f"scaling-{size}", day, size, profile.body_bytes, profile.max_related)
        for size, day in zip(profile.scaling_sizes, profile.scaling_days, strict=True)
    ]
    data_sets.append(
        ("airflow", profile.airflow_day, profile.airflow_messages, profile.body_bytes, profile.max_related)
    )
    data_sets.append(
        ("layouts", profile.layouts_day, profile.layouts_messages, profile.body_bytes, profile.max_related)
    )
    data_sets.append(("extraction", profile.extraction_day, profile.extraction_ids, EXTRACTION_BODY_BYTES, 0))
    es = Elasticsearch(es_url, request_timeout=600)
    loaded: dict[str, Any] = {}
    started = time.perf_counter()
    try:
        create_indices(es)
        for number, (name, day, messages, body_bytes, max_related) in enumerate(data_sets):
            began = time.perf_counter()
            spec = SampleSpec(
                start=day,
                days=1,
                messages_per_day=messages,
                seed=number,
                body_bytes=body_bytes,
                max_related=max_related,
            )
            loaded[name] = {
                "day": day.date().isoformat(),
                "messages": messages,
                "summary": asdict(seed(es, spec)),
                "seconds": time.perf_counter() - began,
            }
    finally:
        es.close()
    return {"sets": loaded, "seconds": time.perf_counter() - started}
