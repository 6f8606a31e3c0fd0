"""OpenSearch (self-hosted, Amazon OpenSearch Service, OpenSearch Serverless) as the search cluster."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from functools import cached_property
from typing import Any

from airflow.providers.opensearch.hooks.opensearch import OpenSearchHook
from opensearchpy import OpenSearch, RequestsAWSV4SignerAuth
from opensearchpy.exceptions import ConnectionError as OsConnectionError
from opensearchpy.exceptions import ConnectionTimeout as OsConnectionTimeout
from opensearchpy.exceptions import TransportError

from message_export.heap import settle
from message_export.hooks.search_base import RETRY_ON_STATUS, MessageSearch
from message_export.hooks.search_errors import (
    SearchAccessError,
    SearchCompatibilityError,
    SearchError,
    SearchUnavailableError,
)
from message_export.throttle import RequestThrottle

log = logging.getLogger(__name__)

# Point in time: OpenSearch 2.4 (Amazon OpenSearch Service 2.5); _shard_doc sorting: OpenSearch 3.3.
PIT_VERSION = (2, 4)
SHARD_DOC_VERSION = (3, 3)
SIGV4_SERVICES = ("es", "aoss")
# Connection settings the provider's hook has already read from the extra and passes to the client when set.
_PROVIDER_SETTINGS = ("scheme", "url_prefix", "headers", "http_compress", "opaque_id")


def _version(number: str) -> tuple[int, int]:
    parts = [*number.split("-")[0].split("."), "0", "0"][:2]
    return int(parts[0]), int(parts[1])


def _status(error: Exception) -> int | None:
    status = getattr(error, "status_code", None)
    return status if isinstance(status, int) else None


def _reason(error: TransportError) -> str:
    info = error.info
    if isinstance(info, dict):
        if isinstance(info.get("error"), dict):
            return str(info["error"].get("reason") or info["error"].get("type"))
        for key in ("message", "Message", "error"):
            if info.get(key):
                return str(info[key])
    return str(error.error)


class OpenSearchMessageHook(MessageSearch, OpenSearchHook):
    """Reads messages from OpenSearch through the provider's ``opensearch`` connection.

    Host, port and ``use_ssl``/``verify_certs`` come from the connection like the provider's hook;
    login/password give basic auth. With the extra ``{"auth": "sigv4", "region_name": ...,
    "service": "es" | "aoss"}`` every request is signed with the credentials of the AWS connection
    (on MWAA: the execution role), refreshed by boto3 as they rotate. Requests are retried on
    429/5xx, timeouts and lost connections with jittered exponential backoff by
    :meth:`MessageSearch._call` (the transport's own retries are off), every attempt through the throttle.
    """

    hook_name = "OpenSearch (message export)"
    engine = "OpenSearch"

    def __init__(
        self,
        opensearch_conn_id: str = "opensearch_default",
        *,
        aws_conn_id: str | None = "aws_default",
        request_timeout: float = 60.0,
        max_retries: int = 6,
        throttle: RequestThrottle | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(open_search_conn_id=opensearch_conn_id, log_query=False, **kwargs)
        self.aws_conn_id = aws_conn_id
        self._request_timeout = request_timeout
        self._max_retries = max_retries
        self._throttle = throttle

    # -- client ----------------------------------------------------------------------------------

    @cached_property
    def _settings(self) -> dict[str, Any]:
        extra = self.conn.extra_dejson
        auth = extra.get("auth")
        if auth not in (None, "basic", "sigv4"):
            raise SearchError(
                f"OpenSearch connection '{self.conn_id}': extra auth={auth!r} is not supported; "
                'use "sigv4" (Amazon OpenSearch Service / Serverless) or leave it out (login/password or none)'
            )
        service = extra.get("service", "es")
        if auth == "sigv4" and service not in SIGV4_SERVICES:
            raise SearchError(
                f"OpenSearch connection '{self.conn_id}': extra service={service!r} is not supported; "
                'use "es" for an Amazon OpenSearch Service domain or "aoss" for a Serverless collection'
            )
        return {"sigv4": auth == "sigv4", "service": service, "region_name": extra.get("region_name")}

    def _signer(self) -> RequestsAWSV4SignerAuth:
        from airflow.providers.amazon.aws.hooks.base_aws import AwsBaseHook

        aws = AwsBaseHook(aws_conn_id=self.aws_conn_id, client_type="sts")
        session = aws.get_session()
        # The session's credentials object, not AwsBaseHook.get_credentials(): that one is frozen
        # and a role's session credentials rotate during a multi-hour extraction.
        credentials = session.get_credentials()
        region = self._settings["region_name"] or aws.region_name or session.region_name
        if credentials is None:
            raise SearchAccessError(
                f"OpenSearch connection '{self.conn_id}' asks for SigV4 but AWS connection '{self.aws_conn_id}' "
                "yields no credentials; on MWAA leave it empty to use the execution role, elsewhere give it keys "
                "or a role"
            )
        if not region:
            raise SearchError(
                f"OpenSearch connection '{self.conn_id}' asks for SigV4 but no region is known; set "
                '"region_name" in its extra (the domain\'s region) or in AWS connection '
                f"'{self.aws_conn_id}'"
            )
        return RequestsAWSV4SignerAuth(credentials, region, self._settings["service"])

    @cached_property
    def client(self) -> OpenSearch:
        """The configured, thread-safe client (retries are done here, with backoff, not by the transport).

        Built from the settings the provider's hook read from the connection (host, port, ``use_ssl``,
        ``verify_certs``, ``url_prefix``, ...); what differs is the authentication and the timeout.
        """
        conn = self.conn
        args: dict[str, Any] = {
            "hosts": [{"host": conn.host, "port": conn.port}],
            "use_ssl": self.use_ssl,
            "verify_certs": self.verify_certs,
            "connection_class": self.connection_class,
            **{name: getattr(self, name) for name in _PROVIDER_SETTINGS if getattr(self, name, None) is not None},
            "timeout": self._request_timeout,
            "max_retries": 0,
        }
        if self._settings["sigv4"]:
            args["http_auth"] = self._signer()
        elif conn.login:
            args["http_auth"] = (conn.login, conn.password or "")
        client = OpenSearch(**args)
        settle()  # the client lasts the hook: keep the garbage collector off it
        return client

    # -- engine primitives -----------------------------------------------------------------------

    def _status_of(self, error: Exception) -> int | None:
        return _status(error) if isinstance(error, TransportError) else None

    def _is_lost_connection(self, error: Exception) -> bool:
        return isinstance(error, OsConnectionError)

    def _target(self) -> str:
        conn = self.conn
        scheme = "https" if self.use_ssl else "http"
        return f"OpenSearch connection '{self.conn_id}' ({scheme}://{conn.host}:{conn.port})"

    def _classify(self, error: Exception, what: str) -> SearchError:
        if isinstance(error, SearchError):
            return error
        if isinstance(error, OsConnectionTimeout):
            return self._timed_out(error, what)
        if isinstance(error, OsConnectionError):
            return SearchUnavailableError(
                f"{self._target()} unreachable while {what}: {error}; check host/port, use_ssl and that the "
                "cluster is up"
            )
        if isinstance(error, TransportError):
            status, reason = _status(error), _reason(error)
            if status in (401, 403):
                hint = self._access_hint(reason)
                return SearchAccessError(f"{self._target()}: {status} {reason} while {what}; {hint}")
            if status == 406:
                return SearchCompatibilityError(
                    f"{self._target()}: 406 {reason} while {what}; the cluster refuses OpenSearch requests — "
                    "if it is Elasticsearch, set 'elasticsearch.engine: elasticsearch' in the config file"
                )
            kind = SearchUnavailableError if status in RETRY_ON_STATUS else SearchError
            return kind(f"{self._target()}: HTTP {status} {reason} while {what}")
        return SearchError(f"{self._target()}: {error} while {what}")

    def _access_hint(self, reason: str) -> str:
        settings = self._settings
        lowered = reason.lower()
        if not settings["sigv4"]:
            if "anonymous" in lowered or "authorization header" in lowered or "security token" in lowered:
                return (
                    "the request was not signed; for Amazon OpenSearch Service set the connection extra "
                    '{"auth": "sigv4", "region_name": "<domain region>", "service": "es"}'
                )
            return "check the connection's login/password and the user's index permissions"
        if "region" in lowered or "scope" in lowered:
            return (
                f"the signature's region does not match the domain's; fix \"region_name\" in the extra of "
                f"connection '{self.conn_id}' (now {settings['region_name']!r}) or in AWS connection "
                f"'{self.aws_conn_id}'"
            )
        if "expired" in lowered:
            return (
                f"the credentials of AWS connection '{self.aws_conn_id}' expired and could not be refreshed; "
                "check the role/keys it uses"
            )
        return (
            f"check that the identity of AWS connection '{self.aws_conn_id}' (on MWAA: the execution role) may "
            f"call {'es:ESHttpGet/Post/Delete' if settings['service'] == 'es' else 'aoss:APIAccessAll'} on the "
            'domain/collection and that the domain\'s access policy allows it; check "service" (es or aoss)'
        )

    def _is_pit_missing(self, error: Exception) -> bool:
        return (
            isinstance(error, TransportError)
            and _status(error) == 404
            and "search_context_missing_exception" in str(error.info)
        )

    @cached_property
    def _cluster_version(self) -> tuple[int, int] | None:
        """The OpenSearch version, or ``None`` on Serverless (which has no ``GET /``)."""
        if self._settings["service"] == "aoss" and self._settings["sigv4"]:
            return None
        try:
            info = self._call(self.client.info)
        except Exception as error:  # noqa: BLE001 - translated
            raise self._classify(error, "reading the cluster version (GET /)") from None
        version = info.get("version") or {}
        if version.get("distribution") != "opensearch":
            raise SearchCompatibilityError(
                f"{self._target()} is not OpenSearch (it reports version {version.get('number')!r} without "
                '"distribution": "opensearch"); for Elasticsearch set \'elasticsearch.engine: elasticsearch\' '
                "in the config file"
            )
        return _version(str(version.get("number", "0.0")))

    def _check_cluster(self, indices: Sequence[str]) -> None:
        version = self._cluster_version
        if version is None:
            self._check_serverless(indices[0] if indices else "*")
        elif version < PIT_VERSION:
            raise SearchCompatibilityError(
                f"{self._target()} runs OpenSearch {version[0]}.{version[1]}; the export pages through a point in "
                "time, which needs OpenSearch 2.4 or later (Amazon OpenSearch Service 2.5 or later); upgrade the "
                "cluster/domain"
            )

    def _check_serverless(self, index: str) -> None:
        """Serverless lacks some APIs: find out at the start whether the point in time is one of them."""
        try:
            pit_id = self._open_pit_raw(index, "1m")
        except Exception as error:  # noqa: BLE001 - translated
            status = _status(error)
            if status in (400, 404, 405, 501):
                raise SearchCompatibilityError(
                    f"{self._target()}: this OpenSearch Serverless collection does not offer point in time search "
                    f"(HTTP {status} on POST /<index>/_search/point_in_time), which the extraction needs to read a "
                    "window consistently; use an Amazon OpenSearch Service domain (2.5 or later)"
                ) from None
            raise self._classify(error, "probing point in time support") from None
        self._close_pit(pit_id)

    def _index_exists(self, index: str) -> bool:
        return bool(self._call(lambda: self.client.indices.exists(index=index)))

    def _count(self, index: str, body: dict[str, Any]) -> dict[str, Any]:
        return dict(self._call(lambda: self.client.count(index=index, body=body)))

    def _search(self, body: dict[str, Any], index: str | None = None) -> dict[str, Any]:
        return dict(self._call(lambda: self.client.search(body=body, index=index, allow_partial_search_results=False)))

    def _mget(self, index: str, ids: list[str]) -> dict[str, Any]:
        return dict(self._call(lambda: self.client.mget(index=index, body={"ids": ids})))

    def _open_pit_raw(self, index: str, keep_alive: str) -> str:
        return str(self._call(lambda: self.client.create_pit(index=index, keep_alive=keep_alive))["pit_id"])

    def _open_pit(self, index: str, keep_alive: str) -> str:
        try:
            return self._open_pit_raw(index, keep_alive)
        except TransportError as error:
            if _status(error) in (400, 404, 405) and "point_in_time" in str(error.info):
                raise SearchCompatibilityError(
                    f"{self._target()} has no point in time API (HTTP {_status(error)}); the export needs "
                    "OpenSearch 2.4 or later (Amazon OpenSearch Service 2.5 or later)"
                ) from None
            raise

    def _close_pit(self, pit_id: str) -> None:
        try:
            self._call(lambda: self.client.delete_pit(body={"pit_id": [pit_id]}), retry=False)
        except TransportError:
            pass  # expires on its own after keep_alive

    def _tiebreaker(self) -> dict[str, Any]:
        version = self._cluster_version
        if version is not None and version >= SHARD_DOC_VERSION:
            return {"_shard_doc": "asc"}
        return {"_id": "asc"}  # unique per document; _shard_doc only exists from OpenSearch 3.3
