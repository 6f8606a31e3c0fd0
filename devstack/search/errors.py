"""Elasticsearch-shaped error bodies for the in-process Elasticsearch-compatible server.

Every error the server returns is ``{"error": {"root_cause": [...], "type": ..., "reason": ...}, "status": N}``,
like real Elasticsearch (see https://www.elastic.co/guide/en/elasticsearch/reference/current/common-options.html).
"""

from __future__ import annotations

from typing import Any

INDEX_UUID = "_na_"
NODE_ID = "esCompatNode0000000000"

MAX_RESULT_WINDOW_REASON = (
    "Result window is too large, from + size must be less than or equal to: [{limit}] but was [{window}]. "
    "See the scroll api for a more efficient way to request large data sets. This limit can be set by changing "
    "the [index.max_result_window] index level setting."
)
SCROLL_BATCH_REASON = (
    "Batch size is too large, size must be less than or equal to: [{limit}] but was [{size}]. Scroll batch sizes "
    "cost as much memory as result windows so they are controlled by the [index.max_result_window] index level "
    "setting."
)
ID_FIELDDATA_REASON = (
    "Fielddata access on the _id field is disallowed, you can re-enable it by updating the dynamic cluster "
    "setting: indices.id_field_data.enabled"
)


class EsError(Exception):
    """An error answered as an Elasticsearch error body with ``status``."""

    def __init__(
        self,
        status: int,
        error_type: str,
        reason: str,
        *,
        root_cause: list[dict[str, Any]] | None = None,
        **extra: Any,
    ) -> None:
        super().__init__(f"{status} {error_type}: {reason}")
        self.status = status
        self.error_type = error_type
        self.reason = reason
        self.extra = extra
        self._root_cause = root_cause

    def cause(self) -> dict[str, Any]:
        """The inner ``{"type", "reason", ...}`` object (as used in ``root_cause`` and bulk items)."""
        return {"type": self.error_type, "reason": self.reason, **self.extra}

    def error(self) -> dict[str, Any]:
        root = self._root_cause if self._root_cause is not None else [self._plain_cause()]
        return {"root_cause": root, **self.cause()}

    def _plain_cause(self) -> dict[str, Any]:
        return {
            "type": self.error_type,
            "reason": self.reason,
            **{k: v for k, v in self.extra.items() if k not in ("caused_by", "failed_shards", "phase", "grouped")},
        }

    def body(self) -> dict[str, Any]:
        return {"error": self.error(), "status": self.status}


def index_not_found(index: str) -> EsError:
    return EsError(
        404,
        "index_not_found_exception",
        f"no such index [{index}]",
        **{"resource.type": "index_or_alias", "resource.id": index, "index_uuid": INDEX_UUID, "index": index},
    )


def resource_already_exists(index: str, uuid: str) -> EsError:
    return EsError(
        400,
        "resource_already_exists_exception",
        f"index [{index}/{uuid}] already exists",
        index_uuid=uuid,
        index=index,
    )


def version_conflict(index: str, uuid: str, doc_id: str, version: int) -> EsError:
    return EsError(
        409,
        "version_conflict_engine_exception",
        f"[{doc_id}]: version conflict, document already exists (current version [{version}])",
        index_uuid=uuid,
        shard="0",
        index=index,
    )


def illegal_argument(reason: str) -> EsError:
    return EsError(400, "illegal_argument_exception", reason)


def parsing(reason: str, line: int = 1, col: int = 1) -> EsError:
    return EsError(400, "parsing_exception", reason, line=line, col=col)


def x_content_parse(reason: str, line: int = 1, col: int = 1) -> EsError:
    return EsError(400, "x_content_parse_exception", f"[{line}:{col}] {reason}")


def validation(*problems: str) -> EsError:
    text = "".join(f"{n}: {p};" for n, p in enumerate(problems, start=1))
    return EsError(400, "action_request_validation_exception", f"Validation Failed: {text}")


def document_parsing(doc_id: str, field: str, field_type: str, value: Any) -> EsError:
    preview = str(value)[:20]
    return EsError(
        400,
        "document_parsing_exception",
        f"[1:2] failed to parse field [{field}] of type [{field_type}] in document with id '{doc_id}'. "
        f"Preview of field's value: '{preview}'",
    )


def search_phase(
    cause: EsError, index: str | None, status: int | None = None, reason: str = "all shards failed"
) -> EsError:
    """Wrap a shard-level failure like ``SearchPhaseExecutionException`` does (all shards failed)."""
    shard_cause = cause.cause()
    return EsError(
        status if status is not None else cause.status,
        "search_phase_execution_exception",
        reason,
        root_cause=[shard_cause],
        phase="query",
        grouped=True,
        failed_shards=[{"shard": 0 if index else -1, "index": index, "node": NODE_ID, "reason": shard_cause}],
        caused_by=shard_cause,
    )


def max_result_window(index: str, limit: int, window: int) -> EsError:
    cause = illegal_argument(MAX_RESULT_WINDOW_REASON.format(limit=limit, window=window))
    return search_phase(cause, index)


def scroll_batch_too_large(index: str, limit: int, size: int) -> EsError:
    return search_phase(illegal_argument(SCROLL_BATCH_REASON.format(limit=limit, size=size)), index)


def id_fielddata(index: str) -> EsError:
    return search_phase(illegal_argument(ID_FIELDDATA_REASON), index)


def text_fielddata(index: str, field: str) -> EsError:
    reason = (
        f"Fielddata is disabled on [{field}] in [{index}]. Text fields are not optimised for operations that "
        "require per-document field data like aggregations and sorting, so these operations are disabled by "
        f"default. Please use a keyword field instead. Alternatively, set fielddata=true on [{field}] in order to "
        "load field data by uninverting the inverted index. Note that this can use significant memory."
    )
    return search_phase(illegal_argument(reason), index)


def no_mapping_for_sort(index: str, field: str) -> EsError:
    cause = EsError(
        400,
        "query_shard_exception",
        f"No mapping found for [{field}] in order to sort on",
        index_uuid=INDEX_UUID,
        index=index,
    )
    return search_phase(cause, index)


def search_context_missing(context_id: str) -> EsError:
    """What an expired/closed point in time or scroll answers (``SearchContextMissingException``, 404).

    Real Elasticsearch reports the shard-level ``search_context_missing_exception`` as the root cause inside a
    ``search_phase_execution_exception`` whose shard failure has no index (``"index": null``).
    """
    cause = EsError(404, "search_context_missing_exception", f"No search context found for id [{context_id}]")
    return search_phase(cause, None, status=404)


def partial_shards_failure(index: str) -> EsError:
    cause = shard_unavailable_cause(index)
    return search_phase(cause, index, status=503, reason="Partial shards failure")


def shard_unavailable_cause(index: str) -> EsError:
    return EsError(
        503,
        "no_shard_available_action_exception",
        f"[{NODE_ID}][127.0.0.1:9300][indices:data/read/search[phase/query]]",
        index_uuid=INDEX_UUID,
        shard="1",
        index=index,
    )


def media_type(header_names: str, detail: str) -> EsError:
    status_cause = {"type": "status_exception", "reason": detail}
    reason = f"Invalid media-type value on headers [{header_names}]"
    return EsError(
        400,
        "media_type_header_exception",
        reason,
        root_cause=[{"type": "media_type_header_exception", "reason": reason}],
        caused_by=status_cause,
    )


def injected(status: int) -> EsError:
    """A real-looking error body for a fault-injected ``status``."""
    if status == 429:
        return EsError(
            429,
            "es_rejected_execution_exception",
            "rejected execution of coordinating operation [coordinating_and_primary_bytes=0, replica_bytes=0, "
            "all_bytes=0, coordinating_operation_bytes=1048576, max_coordinating_and_primary_bytes=107374182]",
        )
    if status == 503:
        return EsError(503, "cluster_block_exception", "blocked by: [SERVICE_UNAVAILABLE/2/no master];")
    if status == 502:
        return EsError(502, "bad_gateway_exception", "injected fault: upstream node closed the connection")
    if status == 504:
        return EsError(504, "receive_timeout_transport_exception", f"[{NODE_ID}][127.0.0.1:9300] request timed out")
    if status >= 500:
        return EsError(status, "internal_server_error", "injected fault: internal server error")
    return EsError(status, "illegal_argument_exception", f"injected fault: status {status}")
