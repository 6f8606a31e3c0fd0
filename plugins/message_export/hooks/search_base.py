"""What the export asks of a search cluster, written once for both engines: :class:`MessageSearch`.

It holds everything the engines share (queries, point-in-time paging, partial-result rejection,
``_mget`` and ``terms`` lookups); an engine supplies a handful of primitives.
"""

from __future__ import annotations

import logging
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, ClassVar, TypeVar

from tenacity import Retrying, retry_if_exception, stop_after_attempt, wait_random_exponential

from message_export.documents import RelatedDocument
from message_export.hooks.search_errors import (
    SearchError,
    SearchUnavailableError,
    check_complete,
)
from message_export.throttle import RequestThrottle
from message_export.windows import Window

log = logging.getLogger(__name__)
T = TypeVar("T")

RETRY_ON_STATUS = (429, 500, 502, 503, 504)
MAX_TERMS_PER_QUERY = 10_000
PAGE_LIMIT = 10_000


def window_query(timestamp_field: str, window: Window) -> dict[str, Any]:
    """The range query selecting ``window`` (start inclusive, end exclusive)."""
    return {
        "range": {
            timestamp_field: {
                "gte": window.start.isoformat(),
                "lt": window.end.isoformat(),
                "format": "strict_date_optional_time",
            }
        }
    }


@dataclass(frozen=True)
class ChunkDocuments:
    """A chunk's messages (``id -> _source``, or why it is missing) and related documents by section."""

    messages: Mapping[str, dict[str, Any] | str]
    related: Mapping[str, Mapping[str, list[RelatedDocument]]]


class MessageSearch(ABC):
    """What the export asks of a search cluster, written once for every engine.

    An engine implements the primitives below (a point in time, a search, a count, an ``_mget``,
    an index check, the tiebreaker sort and how its client's failures map onto
    :class:`SearchError` types); the paging, completeness checks and document assembly live here.

    Every request an engine sends goes through :meth:`_call`: it waits for the worker process's
    :class:`RequestThrottle` (rate and concurrency limits), and transient failures are retried here,
    each retry waiting its turn again, never inside the client (whose own retries are switched off).
    """

    engine: ClassVar[str]
    _max_retries: int = 6
    _request_timeout: float = 60.0
    _throttle: RequestThrottle | None = None

    def _call(self, request: Callable[[], T], *, retry: bool = True) -> T:
        """Send one request through the throttle; retry 429/5xx and lost connections with jittered backoff."""
        for attempt in Retrying(
            stop=stop_after_attempt(self._max_retries + 1 if retry else 1),
            wait=wait_random_exponential(multiplier=0.2, max=10.0),
            retry=retry_if_exception(self._is_transient),
            reraise=True,
        ):
            with attempt:
                return self._send(request)
        raise AssertionError("tenacity returns or raises")  # pragma: no cover

    def _send(self, request: Callable[[], T]) -> T:
        throttle = self._throttle
        if throttle is None:
            return request()
        number = throttle.acquire()
        try:
            result = request()
        except BaseException as error:
            throttle.release(number, self._status_of(error) if isinstance(error, Exception) else None)
            raise
        throttle.release(number, 200)
        return result

    @abstractmethod
    def _status_of(self, error: Exception) -> int | None:
        """The HTTP status the cluster answered with ``error`` (``None`` when no answer came back)."""

    def _is_transient(self, error: BaseException) -> bool:
        """Tell whether trying ``error``'s request again can help: 429/5xx or a lost connection."""
        if not isinstance(error, Exception):
            return False
        return self._is_lost_connection(error) or self._status_of(error) in RETRY_ON_STATUS

    @abstractmethod
    def _is_lost_connection(self, error: Exception) -> bool:
        """Tell whether ``error`` is a refused, dropped or timed out connection."""

    def _timed_out(self, error: Exception, what: str) -> SearchUnavailableError:
        """The cluster kept not answering within the request timeout, through every retry."""
        return SearchUnavailableError(
            f"{self._target()} timed out while {what} (no answer within request_timeout {self._request_timeout:g}s, "
            f"{self._max_retries} retries): {error}; the cluster is overloaded or the request too big: the task is "
            "retried; if it persists raise 'elasticsearch.request_timeout' or lower 'elasticsearch.page_size' / "
            "'fetch_chunk_size' in the config file"
        )

    @abstractmethod
    def _target(self) -> str:
        """Name the connection and cluster for error messages."""

    @abstractmethod
    def _classify(self, error: Exception, what: str) -> SearchError:
        """Turn a client failure while doing ``what`` into a typed :class:`SearchError` (one already typed as is)."""

    @abstractmethod
    def _is_pit_missing(self, error: Exception) -> bool:
        """Tell whether ``error`` says the point in time expired or is unknown."""

    @abstractmethod
    def _check_cluster(self, indices: Sequence[str]) -> None:
        """Fail with :class:`SearchCompatibilityError` when the cluster lacks what the export needs."""

    @abstractmethod
    def _index_exists(self, index: str) -> bool: ...

    @abstractmethod
    def _count(self, index: str, body: dict[str, Any]) -> dict[str, Any]: ...

    @abstractmethod
    def _search(self, body: dict[str, Any], index: str | None = None) -> dict[str, Any]:
        """Run one search; partial results are refused (``allow_partial_search_results=false``)."""

    @abstractmethod
    def _mget(self, index: str, ids: list[str]) -> dict[str, Any]: ...

    @abstractmethod
    def _open_pit(self, index: str, keep_alive: str) -> str:
        """Open a point in time on ``index``; return its id."""

    @abstractmethod
    def _close_pit(self, pit_id: str) -> None:
        """Release a point in time; failures are ignored (it expires on its own)."""

    @abstractmethod
    def _tiebreaker(self) -> dict[str, Any]:
        """A sort clause that makes every hit's sort values unique within a point in time."""

    # -- the contract the pipeline uses ----------------------------------------------------------

    def check_indices(self, indices: Sequence[str]) -> None:
        """Fail with a clear message when the cluster is unfit, an index is missing or it is unreachable."""
        self._check_cluster(indices)
        for index in indices:
            try:
                exists = self._index_exists(index)
            except Exception as error:  # noqa: BLE001 - translated
                raise self._classify(error, f"checking index '{index}'") from None
            if not exists:
                raise SearchError(
                    f"{self.engine} index '{index}' does not exist on {self._target()}; "
                    "check the index names under 'elasticsearch' in the config file"
                )

    def count_window(self, index: str, timestamp_field: str, window: Window) -> int:
        """Return how many messages of ``index`` fall in ``window``."""
        try:
            response = self._count(index, {"query": window_query(timestamp_field, window)})
        except Exception as error:  # noqa: BLE001 - translated
            raise self._classify(error, f"counting window {window} in '{index}'") from None
        check_complete(response, f"count of '{index}'")
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
        last page's timestamp (``gte``): the ids already yielded at that timestamp are read again
        and skipped, so each id is yielded once and none is missed.
        """
        resume_from: Any = None
        # the ids yielded at the newest timestamp so far: the ones a resume reads again
        newest: tuple[Any, set[str]] = (None, set())
        seen_at_resume: set[str] = set()
        pit_id = self._open_pit(index, keep_alive)
        search_after: list[Any] | None = None
        sort = [{timestamp_field: {"order": "asc"}}, self._tiebreaker()]
        try:
            while True:
                query = window_query(timestamp_field, window)
                if resume_from is not None:
                    query = {
                        "bool": {
                            "filter": [
                                query,
                                {"range": {timestamp_field: {"gte": resume_from, "format": "epoch_millis"}}},
                            ]
                        }
                    }
                body: dict[str, Any] = {
                    "pit": {"id": pit_id, "keep_alive": keep_alive},
                    "query": query,
                    "sort": sort,
                    "size": page_size,
                    "_source": False,
                    "track_total_hits": False,
                }
                if search_after is not None:
                    body["search_after"] = search_after
                try:
                    response = self._search(body)
                except Exception as error:
                    if not self._is_pit_missing(error):
                        raise
                    last = search_after[0] if search_after else None
                    log.warning(
                        "point in time expired during extraction; reopening and resuming from timestamp %s", last
                    )
                    pit_id = self._open_pit(index, keep_alive)
                    resume_from, search_after = last, None
                    seen_at_resume = set(newest[1]) if newest[0] == last else set()
                    continue
                check_complete(response, f"extraction page of '{index}'")
                pit_id = response.get("pit_id", pit_id)
                hits = response["hits"]["hits"]
                if not hits:
                    return
                page = []
                for hit in hits:
                    stamp, message_id = hit["sort"][0], hit["_id"]
                    if stamp != newest[0]:
                        newest = (stamp, set())
                    if stamp == resume_from and message_id in seen_at_resume:
                        continue  # yielded before the point in time expired
                    newest[1].add(message_id)
                    page.append(message_id)
                if page:
                    yield page
                search_after = hits[-1]["sort"]
                if len(hits) < page_size:
                    return
        finally:
            self._close_pit(pit_id)

    def fetch_messages(self, index: str, ids: Sequence[str]) -> dict[str, dict[str, Any] | str]:
        """Return ``id -> _source`` for found messages and ``id -> reason`` for the others (one ``_mget``)."""
        try:
            response = self._mget(index, list(ids))
        except Exception as error:  # noqa: BLE001 - translated
            raise self._classify(error, f"fetching {len(ids)} messages from '{index}'") from None
        found: dict[str, dict[str, Any] | str] = {}
        for doc in response["docs"]:
            if doc.get("found"):
                found[doc["_id"]] = doc.get("_source") or {}
            elif "error" in doc:
                reason = doc["error"].get("reason") if isinstance(doc["error"], dict) else doc["error"]
                found[doc["_id"]] = f"{self.engine.lower()} error fetching message: {reason}"
            else:
                found[doc["_id"]] = f"not found in index '{index}'"
        return found

    def fetch_chunk(
        self,
        message_index: str,
        related: Mapping[str, str],
        id_field: str,
        ids: Sequence[str],
        timestamp_field: str,
    ) -> ChunkDocuments:
        """Return a chunk's messages and, per section of ``related`` (section -> index), their related documents.

        The ``_mget`` and the related searches are sent at once, each through the throttle (whose
        ``max_concurrent_requests`` bounds them), so the cluster answers them side by side; the first
        failure is raised once every request has ended.
        """
        with ThreadPoolExecutor(max_workers=1 + len(related), thread_name_prefix="search-chunk") as pool:
            messages = pool.submit(self.fetch_messages, message_index, ids)
            sections = {
                section: pool.submit(self.fetch_related, index, id_field, ids, timestamp_field)
                for section, index in related.items()
            }
            return ChunkDocuments(messages.result(), {section: read.result() for section, read in sections.items()})

    def fetch_related(
        self, index: str, id_field: str, ids: Sequence[str], timestamp_field: str
    ) -> dict[str, list[RelatedDocument]]:
        """Return the related documents of ``ids`` in ``index``, one search per 10,000 ids."""
        related: dict[str, list[RelatedDocument]] = {}
        try:
            for start in range(0, len(ids), MAX_TERMS_PER_QUERY):
                query = {"terms": {id_field: list(ids[start : start + MAX_TERMS_PER_QUERY])}}
                for hit in self._search_all(index, query):
                    source = hit.get("_source") or {}
                    owner = source.get(id_field)
                    if isinstance(owner, str):
                        related.setdefault(owner, []).append(RelatedDocument(hit["_id"], source))
        except Exception as error:  # noqa: BLE001 - translated
            raise self._classify(error, f"reading the related documents of {len(ids)} messages in '{index}'") from None
        return related

    def _search_all(self, index: str, query: dict[str, Any]) -> Iterator[dict[str, Any]]:
        """Yield every hit of ``query``: one request when it fits a page, else point-in-time paging."""
        response = self._search(
            {"query": query, "size": PAGE_LIMIT, "track_total_hits": True, "sort": ["_doc"]}, index=index
        )
        check_complete(response, f"search of '{index}'")
        hits = response["hits"]["hits"]
        if response["hits"]["total"]["value"] <= len(hits):
            yield from hits
            return
        pit_id = self._open_pit(index, "2m")
        search_after = None
        try:
            while True:
                body: dict[str, Any] = {
                    "pit": {"id": pit_id, "keep_alive": "2m"},
                    "query": query,
                    "size": PAGE_LIMIT,
                    "sort": [self._tiebreaker()],
                    "track_total_hits": False,
                }
                if search_after is not None:
                    body["search_after"] = search_after
                page = self._search(body)
                check_complete(page, f"paged search of '{index}'")
                pit_id = page.get("pit_id", pit_id)
                hits = page["hits"]["hits"]
                yield from hits
                if len(hits) < PAGE_LIMIT:
                    return
                search_after = hits[-1]["sort"]
        finally:
            self._close_pit(pit_id)
