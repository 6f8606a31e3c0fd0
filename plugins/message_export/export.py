"""Exporting leased messages: fetch from the search cluster, archive to S3, record in MySQL."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping, Sequence
from contextlib import closing
from dataclasses import dataclass, field

from message_export.batching import chunked
from message_export.config import ExportConfig
from message_export.documents import build_archive_document, message_day
from message_export.hooks.archive import MessageArchiveHook
from message_export.hooks.opensearch import OpenSearchMessageHook
from message_export.hooks.search import MessageSearchHook
from message_export.hooks.search_base import ChunkDocuments, MessageSearch
from message_export.layouts import ArchiveDocument, ArchiveWrite, Written, archive_layout
from message_export.ledger.hook import MessageTrackingHook
from message_export.model import ClaimedMessage, MessageOutcome
from message_export.read_ahead import read_ahead
from message_export.throttle import RequestThrottle, shared_throttle
from message_export.write_behind import WriteBehind

log = logging.getLogger(__name__)
MAX_LOGGED_FAILURES = 20
# chunks read before they are needed, and chunks' writes waiting while the next chunk is built
READ_AHEAD_CHUNKS = 1
WRITE_BEHIND_CHUNKS = 2


@dataclass
class ExportSummary:
    """What one export pass did."""

    claimed: int = 0
    completed: int = 0
    failed: int = 0
    bytes_written: int = 0
    seconds: float = 0.0
    failures: list[tuple[str, str]] = field(default_factory=list)
    superseded: int = 0
    """messages of a batch object not recorded because another worker took some of them over (the ones
    still held are set failed for retry_failed; the others are the new owner's)"""

    def add(self, outcomes: Sequence[MessageOutcome], bytes_written: int) -> None:
        for outcome in outcomes:
            if outcome.status == "completed":
                self.completed += 1
            else:
                self.failed += 1
                if len(self.failures) < MAX_LOGGED_FAILURES:
                    self.failures.append((outcome.message.message_id, outcome.error or ""))
        self.bytes_written += bytes_written

    def log_failures(self, logger: logging.Logger, what: str) -> None:
        for message_id, reason in self.failures:
            logger.warning("%s: message %r failed: %s", what, message_id, reason)
        if self.failed > len(self.failures):
            logger.warning(
                "%s: ... and %d more failed messages (see message_tracking.last_error)",
                what,
                self.failed - len(self.failures),
            )


@dataclass(frozen=True)
class ExportServices:
    """The three hooks an export needs, built from the config's connection ids."""

    search: MessageSearch
    tracking: MessageTrackingHook
    archive: MessageArchiveHook

    @classmethod
    def from_config(cls, config: ExportConfig) -> ExportServices:
        return cls(
            search=_search_engine(config),
            tracking=MessageTrackingHook(config.connections.mysql),
            archive=MessageArchiveHook(
                config.connections.aws,
                max_concurrency=config.s3.max_concurrency,
                read_timeout=config.s3.read_timeout,
                server_side_encryption=config.s3.server_side_encryption,
                kms_key_id=config.s3.kms_key_id,
                acl=config.s3.acl,
            ),
        )


def _search_engine(config: ExportConfig) -> MessageSearch:
    """The one place the search engine is chosen (``elasticsearch.engine``)."""
    settings = config.elasticsearch
    conn_id = config.connections.elasticsearch

    def throttle(engine: str) -> RequestThrottle | None:
        return shared_throttle(f"{engine} connection '{conn_id}'", settings.throttle_limits())

    if settings.engine == "opensearch":
        return OpenSearchMessageHook(
            conn_id,
            aws_conn_id=config.connections.aws,
            request_timeout=settings.request_timeout,
            max_retries=settings.max_retries,
            throttle=throttle(OpenSearchMessageHook.engine),
        )
    return MessageSearchHook(
        conn_id,
        request_timeout=settings.request_timeout,
        max_retries=settings.max_retries,
        throttle=throttle(MessageSearchHook.engine),
    )


class MessageExporter:
    """Turns leased messages into archived objects and ledger updates, a chunk at a time, in three lanes.

    Per chunk: one ``_mget`` for the messages and one search per related index, sent at once; the
    documents built and framed by the archive layout; its writes (concurrent PUTs, or a full batch
    object's upload) and one bulk ledger update of the outcomes that are final. The next chunk is read
    while this one is built (:func:`read_ahead`), and a chunk is written and recorded while the next one
    is built (:class:`WriteBehind`): a worker waits on the search cluster, S3 and MySQL at the same time,
    not one after another. Memory is bounded by a few chunks, whatever the batch size.
    """

    def __init__(self, config: ExportConfig, services: ExportServices, run_metadata: Mapping[str, str]) -> None:
        self._config = config
        self._services = services
        self._metadata = dict(run_metadata)
        self._layout = archive_layout(config, services)

    def export(self, claimed: Sequence[ClaimedMessage], lease_token: str) -> ExportSummary:
        """Export ``claimed`` messages held under ``lease_token``; record every outcome."""
        summary = ExportSummary(claimed=len(claimed))
        started = time.monotonic()
        writer = self._layout.open_pass(self._metadata)
        lease = LeaseRenewal(self._services.tracking, lease_token, self._config.lease_seconds)
        chunks = chunked(list(claimed), self._config.fetch_chunk_size)
        reading = read_ahead(((chunk, self._read(chunk)) for chunk in chunks), depth=READ_AHEAD_CHUNKS)
        # the ledger is used on the write lane's thread only, while the export runs
        with closing(reading) as reads, WriteBehind(depth=WRITE_BEHIND_CHUNKS, name="export-writes") as lane:
            lane.submit(self._warm_archive_client)
            for chunk, read in reads:
                lane.submit(lease.renew_if_due)
                try:
                    if isinstance(read, Exception):
                        raise read
                    failed, documents = self._documents(chunk, read)
                    writes = writer.add(documents)
                except Exception as error:  # noqa: BLE001 - recorded per message, retried by retry_failed
                    failed, writes = self._chunk_failed(chunk, error), []
                lane.submit(self._write, lease_token, writes, failed, summary)
            lane.submit(self._write, lease_token, writer.close(), [], summary)
        summary.seconds = time.monotonic() - started
        return summary

    def _warm_archive_client(self) -> None:
        """Build the S3 client while the first chunk is read (a client that cannot be built fails the writes,
        each with its reason, as without this)."""
        try:
            self._services.archive.get_conn()
        except Exception as error:  # noqa: BLE001 - the writes meet it again and record it per message
            log.debug("S3 client not built ahead of the first write: %s", error)

    def _write(
        self, lease_token: str, writes: Sequence[ArchiveWrite], failed: list[MessageOutcome], summary: ExportSummary
    ) -> None:
        """Run the layout's ``writes``; record what they wrote and the chunk's ``failed`` messages."""
        written = Written(failed)
        for write in writes:
            try:
                written += write.write()
            except Exception as error:  # noqa: BLE001 - recorded per message, retried by retry_failed
                written += Written(self._chunk_failed(write.messages, error))
        self._record(lease_token, written, summary)

    @staticmethod
    def _chunk_failed(messages: Sequence[ClaimedMessage], error: Exception) -> list[MessageOutcome]:
        log.warning("chunk of %d messages failed as a whole: %s", len(messages), error)
        reason = f"{type(error).__name__}: {error}"
        return [MessageOutcome.failed(m, reason) for m in messages]

    def _record(self, lease_token: str, written: Written, summary: ExportSummary) -> None:
        """Record what the layout wrote: outcomes one by one, a batch object's all together or none."""
        tracking = self._services.tracking
        recorded = list(written.outcomes)
        if written.outcomes:
            tracking.record_results(lease_token, written.outcomes)
        for stored in written.objects:
            if tracking.record_whole_object(lease_token, stored.outcomes):
                recorded += stored.outcomes
                continue
            # another worker took some of its messages over: the ones still ours are retried, and the object,
            # which no row will reference, is removed once its day completes
            reason = (
                f"not recorded in {stored.uri}: another worker took over some of that object's messages; "
                "retry_failed will archive it again"
            )
            tracking.record_results(lease_token, [MessageOutcome.failed(o.message, reason) for o in stored.outcomes])
            summary.superseded += len(stored.outcomes)
            log.warning("%s: %d messages %s", stored.uri, len(stored.outcomes), reason)
        summary.add(recorded, sum(o.body_bytes or 0 for o in recorded if o.status == "completed"))

    def _read(self, chunk: Sequence[ClaimedMessage]) -> ChunkDocuments | Exception:
        """Read a chunk's messages and related documents; a failure is returned, to fail that chunk alone."""
        es_cfg = self._config.elasticsearch
        ids = [m.message_id for m in chunk]
        try:
            return self._services.search.fetch_chunk(
                es_cfg.message_index, es_cfg.related, es_cfg.related_id_field, ids, es_cfg.timestamp_field
            )
        except Exception as error:  # noqa: BLE001 - the chunk fails as a whole, retried by retry_failed
            return error

    def _documents(
        self, chunk: Sequence[ClaimedMessage], read: ChunkDocuments
    ) -> tuple[list[MessageOutcome], list[ArchiveDocument]]:
        """Build a chunk's documents from what was read; return the misses and the documents to archive."""
        es_cfg = self._config.elasticsearch
        failed: list[MessageOutcome] = []
        documents: list[ArchiveDocument] = []
        for message in chunk:
            source = read.messages.get(message.message_id, f"not returned by _mget from '{es_cfg.message_index}'")
            if isinstance(source, str):
                failed.append(MessageOutcome.failed(message, source))
                continue
            body = build_archive_document(
                message.message_id,
                source,
                {section: docs.get(message.message_id, []) for section, docs in read.related.items()},
                es_cfg.timestamp_field,
            )
            day = message_day(source, es_cfg.timestamp_field, fallback=message.window_start.date())
            documents.append(ArchiveDocument(message, day, body))
        return failed, documents


class LeaseRenewal:
    """Renews a lease once a third of it has passed since it was taken or last renewed: twice before it would
    expire, however long the chunks in between take below that."""

    def __init__(
        self,
        tracking: MessageTrackingHook,
        lease_token: str,
        lease_seconds: int,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._tracking, self._token, self._seconds, self._clock = tracking, lease_token, lease_seconds, clock
        self._renewed = clock()

    def renew_if_due(self) -> None:
        if self._clock() - self._renewed < self._seconds / 3:
            return
        self._tracking.renew_lease(self._token, self._seconds)
        self._renewed = self._clock()
