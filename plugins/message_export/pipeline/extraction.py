"""Extraction: every id of the window staged in the ledger and cut into batches."""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from typing import Any

from message_export.batching import plan_batches
from message_export.config import ExportConfig
from message_export.export import ExportServices
from message_export.heap import freeze_startup_objects
from message_export.metrics import ExportMetrics
from message_export.pipeline.failures import explain_failures
from message_export.pipeline.run_context import configured, window_of
from message_export.read_ahead import read_ahead

log = logging.getLogger(__name__)


@explain_failures
@freeze_startup_objects
def extract(
    window: Mapping[str, Any], *, config: ExportConfig | None = None, services: ExportServices | None = None
) -> list[int]:
    """Stage every id of the window in the ledger, cut into batches; return the batch ids.

    A batch's ids enter ``message_tracking`` (as pending) when the batch is first claimed, so a
    million ledger rows are written by the mapped tasks in parallel, not here; until then the
    batch's ``staged`` count is pending in every count of the ledger.
    """
    config, services = configured(config, services)
    search, tracking = services.search, services.tracking
    es_cfg = config.elasticsearch
    job = tracking.get_job(window_of(window))
    search.check_indices([es_cfg.message_index, *es_cfg.related.values()])
    services.archive.check_bucket(config.s3.bucket, config.s3.prefix)
    started = time.monotonic()
    total = search.count_window(es_cfg.message_index, es_cfg.timestamp_field, job.window)
    plan = plan_batches(total, config.batch_size, config.max_batches)
    log.info(
        "window %s: %d messages in '%s'; %d batches of up to %d",
        job.window,
        total,
        es_cfg.message_index,
        plan.batch_count,
        plan.batch_size,
    )
    batch_ids = tracking.ensure_batches(job.job_id, list(range(plan.batch_count)))
    # Ids go to a staging table of the job (keyed by message_id, a small table of its own): each
    # batch then holds a range of it in message_id order and tracks those ids when first claimed.
    tracking.start_staging(job.job_id)
    position = 0
    next_report = 100_000
    pages = search.iter_window_ids(
        es_cfg.message_index,
        es_cfg.timestamp_field,
        job.window,
        page_size=es_cfg.page_size,
        keep_alive=es_cfg.pit_keep_alive,
    )
    # the next page is read from Elasticsearch while this one is written to MySQL
    for page in read_ahead(pages, depth=2):
        tracking.stage_ids(job.job_id, page)
        position += len(page)
        if position >= next_report:
            log.info(
                "extracted %d / %d ids (%.0f ids/s)", position, total, position / max(time.monotonic() - started, 1e-6)
            )
            next_report += 100_000
    streamed = time.monotonic() - started
    if position and not plan.batch_count:
        # the count found nothing but ids arrived since: plan batches for what arrived
        plan = plan_batches(position, config.batch_size, config.max_batches)
        batch_ids = tracking.ensure_batches(job.job_id, list(range(plan.batch_count)))
        log.info("%d ids arrived after a count of 0: %d batches planned for them", position, plan.batch_count)
    staged = tracking.stage_batches(job.job_id, batch_ids, plan)
    log.info(
        "%d ids read and staged in %.1fs, %d batches given their ranges in %.1fs (%d ids staged); each batch "
        "tracks its own when claimed",
        position,
        streamed,
        plan.batch_count,
        time.monotonic() - started - streamed,
        staged,
    )
    already_tracked = sum(tracking.job_counts(job.job_id).values())
    if already_tracked:
        # An earlier extraction of this window tracked ids already: track the rest now, so no count
        # of the ledger holds an id both as tracked and as staged.
        tracked = tracking.track_staged_ids(job.job_id)
        log.info(
            "%d ids of the window were tracked by an earlier extraction: the %d others tracked now in %.1fs",
            already_tracked,
            tracked,
            time.monotonic() - started - streamed,
        )
    if window.get("reprocess"):
        reset = tracking.reset_for_reprocess(job.job_id)
        log.info("reprocess: %d already exported messages set back to pending", reset)
    tracking.refresh_batches(list(batch_ids.values()))
    tracking.complete_extraction(job.job_id)
    batches = tracking.list_job_batches(job.job_id)
    seconds = time.monotonic() - started
    log.info(
        "extraction of window %s done: %d ids read in %.1fs and staged, %d batches to process",
        job.window,
        position,
        seconds,
        len(batches),
    )
    ExportMetrics().extraction_done(position, seconds)
    return batches
