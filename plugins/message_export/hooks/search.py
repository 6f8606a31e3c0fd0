"""Elasticsearch: the window's message ids, the messages and their related documents."""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from functools import cached_property
from typing import Any

from airflow.providers.elasticsearch.hooks.elasticsearch import ElasticsearchSQLHook
from elasticsearch import ApiError, Elasticsearch
from elasticsearch import ConnectionError as EsConnectionError

from message_export.documents import RelatedDocument
from message_export.windows import Window

log = logging.getLogger(__name__)

RETRY_ON_STATUS = (429, 500, 502, 503, 504)
MAX_TERMS_PER_QUERY = 10_000
PAGE_LIMIT = 10_000


class SearchError(RuntimeError):
    """Elasticsearch cannot serve the export; the message says why and what to do."""


class PartialResultsError(SearchError):
    """A search answered with failed shards or timed out: its hits are not complete."""


def _is_pit_missing(error: ApiError) -> bool:
    return error.meta.status == 404 and "search_context_missing_exception" in str(error.body)


def _check_complete(response: Any, what: str) -> None:
    shards = response.get("_shards") or {}
    if response.get("timed_out") or shards.get("failed", 0):
        raise PartialResultsError(
            f"{what}: incomplete results (timed_out={response.get('timed_out')}, "
            f"failed shards={shards.get('failed', 0)} of {shards.get('total', '?')}); will retry"
        )


class MessageSearchHook(ElasticsearchSQLHook):
    """Reads messages from Elasticsearch through the provider's connection handling.

    The client comes from the Airflow connection (host, port, scheme, login/password, extras such
    as ``api_key`` or ``ca_certs``; ``[elasticsearch] es_compat_with`` for 8.x servers) and is
    configured to retry 429/5xx and timeouts with jittered exponential backoff.
    """

    hook_name = "Elasticsearch (message export)"

    def __init__(
        self,
        elasticsearch_conn_id: str = "elasticsearch_default",
        *,
        request_timeout: float = 60.0,
        max_retries: int = 6,
        **kwargs: Any,
    ) -> None:
        super().__init__(elasticsearch_conn_id=elasticsearch_conn_id, **kwargs)
        self._request_timeout = request_timeout
        self._max_retries = max_retries

    @cached_property
    def client(self) -> Elasticsearch:
        """The configured, thread-safe client."""
        base = self.get_conn().es
        return base.options(
            request_timeout=self._request_timeout,
            max_retries=self._max_retries,
            retry_on_status=RETRY_ON_STATUS,
            retry_on_timeout=True,
            retry_backoff_base=0.2,
            retry_backoff_cap=10.0,
        )

    def _target(self) -> str:
        conn = self.connection
        return f"Elasticsearch connection '{self.elasticsearch_conn_id}' ({conn.schema or 'http'}://{conn.host}:{conn.port})"

    def _translate(self, error: Exception, what: str) -> SearchError:
        if isinstance(error, EsConnectionError):
            return SearchError(
                f"{self._target()} unreachable while {what}: {error}; check host/port and that the cluster is up"
            )
        if isinstance(error, ApiError):
            status = error.meta.status
            if status in (401, 403):
                return SearchError(
                    f"{self._target()}: {status} {error.message} while {what}; "
                    "check the connection's credentials/api_key and index privileges"
                )
            return SearchError(f"{self._target()}: HTTP {status} {error.message} while {what}")
        return SearchError(f"{self._target()}: {error} while {what}")

    def check_indices(self, indices: Sequence[str]) -> None:
        """Fail with a clear message when an index is missing or the cluster is unreachable."""
        for index in indices:
            try:
                exists = bool(self.client.indices.exists(index=index))
            except Exception as error:  # noqa: BLE001 - translated
                raise self._translate(error, f"checking index '{index}'") from None
            if not exists:
                raise SearchError(
                    f"Elasticsearch index '{index}' does not exist on {self._target()}; "
                    "check the index names under 'elasticsearch' in the config file"
                )

    @staticmethod
    def _window_query(timestamp_field: str, window: Window) -> dict[str, Any]:
        return {
            "range": {
                timestamp_field: {
                    "gte": window.start.isoformat(),
                    "lt": window.end.isoformat(),
                    "format": "strict_date_optional_time",
                }
            }
        }

    def count_window(self, index: str, timestamp_field: str, window: Window) -> int:
        """Return how many messages of ``index`` fall in ``window``."""
        try:
            response = self.client.count(index=index, query=self._window_query(timestamp_field, window))
        except Exception as error:  # noqa: BLE001 - translated
            raise self._translate(error, f"counting window {window} in '{index}'") from None
        _check_complete(response, f"count of '{index}'")
        return int(response["count"])

    def iter_window_ids(
        self,
        index: str,
        timestamp_field: str,
        window: Window,
        *,
        page_size: int = 5000,
        keep_alive: str = "5m",
    ) -> Iterator[list[str]]:
        """Yield the ids of ``window`` page by page (point in time + ``search_after``, no ``_source``).

        When the point in time expires mid-way, a new one is opened and paging resumes from the
        last page's timestamp (``gte``): ids at that timestamp may be yielded again, never missed.
        """
        es = self.client
        resume_from: Any = None
        pit_id = es.open_point_in_time(index=index, keep_alive=keep_alive)["id"]
        search_after: list[Any] | None = None
        try:
            while True:
                query = self._window_query(timestamp_field, window)
                if resume_from is not None:
                    query = {
                        "bool": {
                            "filter": [
                                query,
                                {"range": {timestamp_field: {"gte": resume_from, "format": "epoch_millis"}}},
                            ]
                        }
                    }
                try:
                    response = es.search(
                        pit={"id": pit_id, "keep_alive": keep_alive},
                        query=query,
                        sort=[{timestamp_field: {"order": "asc"}}, {"_shard_doc": "asc"}],
                        size=page_size,
                        source=False,
                        search_after=search_after,
                        track_total_hits=False,
                        allow_partial_search_results=False,
                    )
                except ApiError as error:
                    if not _is_pit_missing(error):
                        raise
                    last = search_after[0] if search_after else None
                    log.warning(
                        "point in time expired during extraction; reopening and resuming from timestamp %s", last
                    )
                    pit_id = es.open_point_in_time(index=index, keep_alive=keep_alive)["id"]
                    resume_from, search_after = last, None
                    continue
                _check_complete(response, f"extraction page of '{index}'")
                pit_id = response.get("pit_id", pit_id)
                hits = response["hits"]["hits"]
                if not hits:
                    return
                yield [hit["_id"] for hit in hits]
                search_after = hits[-1]["sort"]
                if len(hits) < page_size:
                    return
        finally:
            try:
                es.close_point_in_time(id=pit_id)
            except (ApiError, EsConnectionError):
                pass  # expires on its own after keep_alive

    def fetch_messages(self, index: str, ids: Sequence[str]) -> dict[str, dict[str, Any] | str]:
        """Return ``id -> _source`` for found messages and ``id -> reason`` for the others (one ``_mget``)."""
        response = self.client.mget(index=index, ids=list(ids))
        found: dict[str, dict[str, Any] | str] = {}
        for doc in response["docs"]:
            if doc.get("found"):
                found[doc["_id"]] = doc.get("_source") or {}
            elif "error" in doc:
                reason = doc["error"].get("reason") if isinstance(doc["error"], dict) else doc["error"]
                found[doc["_id"]] = f"elasticsearch error fetching message: {reason}"
            else:
                found[doc["_id"]] = f"not found in index '{index}'"
        return found

    def fetch_related(
        self, index: str, id_field: str, ids: Sequence[str], timestamp_field: str
    ) -> dict[str, list[RelatedDocument]]:
        """Return the related documents of ``ids`` in ``index``, one search per 10,000 ids."""
        related: dict[str, list[RelatedDocument]] = {}
        for start in range(0, len(ids), MAX_TERMS_PER_QUERY):
            query = {"terms": {id_field: list(ids[start : start + MAX_TERMS_PER_QUERY])}}
            for hit in self._search_all(index, query, timestamp_field):
                source = hit.get("_source") or {}
                owner = source.get(id_field)
                if isinstance(owner, str):
                    related.setdefault(owner, []).append(RelatedDocument(hit["_id"], source))
        return related

    def _search_all(self, index: str, query: dict[str, Any], timestamp_field: str) -> Iterator[dict[str, Any]]:
        """Yield every hit of ``query``: one request when it fits a page, else PIT paging."""
        es = self.client
        response = es.search(
            index=index,
            query=query,
            size=PAGE_LIMIT,
            track_total_hits=True,
            allow_partial_search_results=False,
            sort=["_doc"],
        )
        _check_complete(response, f"search of '{index}'")
        hits = response["hits"]["hits"]
        if response["hits"]["total"]["value"] <= len(hits):
            yield from hits
            return
        pit_id = es.open_point_in_time(index=index, keep_alive="2m")["id"]
        search_after = None
        try:
            while True:
                page = es.search(
                    pit={"id": pit_id, "keep_alive": "2m"},
                    query=query,
                    size=PAGE_LIMIT,
                    sort=[{"_shard_doc": "asc"}],
                    search_after=search_after,
                    track_total_hits=False,
                    allow_partial_search_results=False,
                )
                _check_complete(page, f"paged search of '{index}'")
                pit_id = page.get("pit_id", pit_id)
                hits = page["hits"]["hits"]
                yield from hits
                if len(hits) < PAGE_LIMIT:
                    return
                search_after = hits[-1]["sort"]
        finally:
            try:
                es.close_point_in_time(id=pit_id)
            except (ApiError, EsConnectionError):
                pass
