"""The search cluster: the window's message ids, the messages and their related documents.

:class:`MessageSearch` holds everything the two engines share (queries, point-in-time paging,
partial-result rejection, ``_mget`` and ``terms`` lookups); an engine supplies a handful of
primitives. :class:`MessageSearchHook` is the Elasticsearch engine; the OpenSearch engine lives in
:mod:`message_export.hooks.opensearch`.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from functools import cached_property
from typing import Any
from urllib.parse import urlunparse

from airflow.providers.elasticsearch.hooks.elasticsearch import ElasticsearchPythonHook
from airflow.sdk import Connection
from elasticsearch import ApiError, ConnectionTimeout, Elasticsearch, UnsupportedProductError
from elasticsearch import ConnectionError as EsConnectionError

from message_export.heap import settle
from message_export.hooks.search_base import (
    RETRY_ON_STATUS,
    MessageSearch,
)
from message_export.hooks.search_errors import (
    SearchAccessError,
    SearchCompatibilityError,
    SearchError,
    SearchUnavailableError,
    api_reason,
)
from message_export.throttle import RequestThrottle

log = logging.getLogger(__name__)


def client_arguments(conn: Connection) -> tuple[list[str], dict[str, Any]]:
    """The client's hosts and keyword arguments from an Airflow ``elasticsearch`` connection.

    Read as the provider's ``ElasticsearchSQLHook`` reads it: ``schema`` is the scheme (http by
    default), login and password give basic auth, the extras go to the client as they are (but the
    SQL cursor's own ``fetch_size`` and ``field_multi_value_leniency``).
    """
    url = urlunparse((conn.schema or "http", f"{conn.host}:{conn.port or 9200}", "/", None, None, None))
    arguments = {
        name: value
        for name, value in conn.extra_dejson.items()
        if name not in ("fetch_size", "field_multi_value_leniency")
    }
    if arguments.get("http_compress", False):
        arguments["http_compress"] = bool(arguments["http_compress"])
    if conn.login and conn.password:
        arguments["basic_auth"] = (conn.login, conn.password)
    return [url], arguments


class MessageSearchHook(MessageSearch, ElasticsearchPythonHook):
    """Reads messages from Elasticsearch with the provider's plain client hook.

    The client comes from the Airflow connection (host, port, scheme, login/password, extras such
    as ``api_key`` or ``ca_certs``; ``[elasticsearch] es_compat_with`` for 8.x servers). Its
    transport's own retries (``retry_on_status``) loop below any hook, where no limit could see them,
    so they are switched off: 429/5xx and timeouts are retried by :meth:`MessageSearch._call`, with
    jittered exponential backoff, every attempt through the throttle.
    """

    conn_name_attr = "elasticsearch_conn_id"
    default_conn_name = "elasticsearch_default"
    conn_type = "elasticsearch"
    hook_name = "Elasticsearch (message export)"
    engine = "Elasticsearch"

    def __init__(
        self,
        elasticsearch_conn_id: str = default_conn_name,
        *,
        request_timeout: float = 60.0,
        max_retries: int = 6,
        throttle: RequestThrottle | None = None,
    ) -> None:
        # The provider's hook takes hosts and client arguments, not a connection id: they are read
        # from the connection when the client is first needed (_get_elastic_connection).
        super().__init__(hosts=[])
        self.elasticsearch_conn_id = elasticsearch_conn_id
        self._request_timeout = request_timeout
        self._max_retries = max_retries
        self._throttle = throttle

    @cached_property
    def connection(self) -> Connection:
        """The Airflow connection, read once."""
        return self.get_connection(self.elasticsearch_conn_id)

    def _get_elastic_connection(self) -> Elasticsearch:
        self.hosts, self.es_conn_args = client_arguments(self.connection)
        return super()._get_elastic_connection()

    @cached_property
    def client(self) -> Elasticsearch:
        """The configured, thread-safe client (one attempt per call: retries are :meth:`_call`'s)."""
        base = self.get_conn  # the provider's cached client (a property there)
        client = base.options(request_timeout=self._request_timeout, max_retries=0)
        settle()  # the client lasts the hook: keep the garbage collector off it
        return client

    def _status_of(self, error: Exception) -> int | None:
        return error.meta.status if isinstance(error, ApiError) else None

    def _is_lost_connection(self, error: Exception) -> bool:
        return isinstance(error, (EsConnectionError, ConnectionTimeout))

    def _target(self) -> str:
        conn = self.connection
        return f"Elasticsearch connection '{self.elasticsearch_conn_id}' ({conn.schema or 'http'}://{conn.host}:{conn.port})"

    def _classify(self, error: Exception, what: str) -> SearchError:
        if isinstance(error, SearchError):
            return error
        if isinstance(error, UnsupportedProductError):
            return SearchCompatibilityError(
                f"{self._target()} is not Elasticsearch while {what} (no 'X-Elastic-Product' header); "
                "for an OpenSearch cluster set 'elasticsearch.engine: opensearch' in the config file"
            )
        if isinstance(error, ConnectionTimeout):
            return self._timed_out(error, what)
        if isinstance(error, EsConnectionError):
            return SearchUnavailableError(
                f"{self._target()} unreachable while {what}: {error}; check host/port and that the cluster is up"
            )
        if isinstance(error, ApiError):
            status = error.meta.status
            if status in (401, 403):
                return SearchAccessError(
                    f"{self._target()}: {status} {error.message} while {what}; "
                    "check the connection's credentials/api_key and index privileges"
                )
            if status == 406:
                return SearchCompatibilityError(
                    f"{self._target()}: HTTP 406 while {what}: the cluster refuses Elasticsearch's media types, so it "
                    "is not Elasticsearch (OpenSearch does this); for an OpenSearch cluster set "
                    "'elasticsearch.engine: opensearch' in the config file"
                )
            kind = SearchUnavailableError if status in RETRY_ON_STATUS else SearchError
            return kind(f"{self._target()}: HTTP {status} {api_reason(error)} while {what}")
        return SearchError(f"{self._target()}: {error} while {what}")

    def _is_pit_missing(self, error: Exception) -> bool:
        return (
            isinstance(error, ApiError)
            and error.meta.status == 404
            and "search_context_missing_exception" in str(error.body)
        )

    def _check_cluster(self, indices: Sequence[str]) -> None:
        return None  # the client itself refuses a server that is not Elasticsearch (see _classify)

    def _index_exists(self, index: str) -> bool:
        return bool(self._call(lambda: self.client.indices.exists(index=index)))

    def _count(self, index: str, body: dict[str, Any]) -> dict[str, Any]:
        return dict(self._call(lambda: self.client.count(index=index, body=body)))

    def _search(self, body: dict[str, Any], index: str | None = None) -> dict[str, Any]:
        return dict(self._call(lambda: self.client.search(index=index, body=body, allow_partial_search_results=False)))

    def _mget(self, index: str, ids: list[str]) -> dict[str, Any]:
        return dict(self._call(lambda: self.client.mget(index=index, ids=ids)))

    def _open_pit(self, index: str, keep_alive: str) -> str:
        return str(self._call(lambda: self.client.open_point_in_time(index=index, keep_alive=keep_alive))["id"])

    def _close_pit(self, pit_id: str) -> None:
        try:
            self._call(lambda: self.client.close_point_in_time(id=pit_id), retry=False)
        except (ApiError, EsConnectionError, ConnectionTimeout):
            pass  # expires on its own after keep_alive

    def _tiebreaker(self) -> dict[str, Any]:
        return {"_shard_doc": "asc"}
