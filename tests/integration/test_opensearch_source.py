"""The OpenSearch engine against the server's OpenSearch mode over HTTP: SigV4 with rotating credentials,
fast and clear failures for a wrong region, an unsigned request, an old cluster, the wrong engine or a
Serverless collection without point in time; the tiebreaker each version supports."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from airflow.providers.amazon.aws.hooks.base_aws import AwsBaseHook
from airflow.sdk.exceptions import AirflowFailException
from botocore.credentials import Credentials
from opensearchpy import OpenSearch, RequestsAWSV4SignerAuth, RequestsHttpConnection, helpers
from opensearchpy.exceptions import AuthorizationException

from devstack.search.server import EsCompatServer
from message_export.hooks.opensearch import OpenSearchMessageHook
from message_export.hooks.search import MessageSearchHook
from message_export.hooks.search_errors import SearchCompatibilityError, SearchError
from message_export.windows import Window
from tests.fixtures.export_stack import Stack, prepare_window
from tests.fixtures.messages import day_of_messages

REGION = "us-east-1"
WINDOW = Window(datetime(2024, 10, 1, tzinfo=UTC), datetime(2024, 10, 2, tzinfo=UTC))


@pytest.fixture
def connect(monkeypatch: pytest.MonkeyPatch) -> Callable[..., None]:
    """Define an Airflow connection for a server (through the environment, as on a worker)."""

    def define(conn_id: str, server: EsCompatServer, extra: dict | None = None, conn_type: str = "opensearch") -> None:
        monkeypatch.setenv(
            f"AIRFLOW_CONN_{conn_id.upper()}",
            json.dumps({"conn_type": conn_type, "host": "127.0.0.1", "port": server.port, "extra": extra or {}}),
        )

    return define


def seed(server: EsCompatServer, count: int) -> set[str]:
    auth = RequestsAWSV4SignerAuth(Credentials("test", "test"), REGION, "es") if server.sigv4 else None
    client = OpenSearch(
        hosts=[{"host": "127.0.0.1", "port": server.port}], http_auth=auth, connection_class=RequestsHttpConnection
    )
    client.indices.create(index="messages", body={"mappings": {"properties": {"timestamp": {"type": "date"}}}})
    messages, _related = day_of_messages(date(2024, 10, 1), count)
    actions = [{"_index": "messages", "_id": mid, "_source": src} for mid, src in messages.items()]
    helpers.bulk(client, actions, refresh=True)
    return set(messages)


@pytest.fixture
def opensearch(request: pytest.FixtureRequest) -> Iterator[Callable[..., EsCompatServer]]:
    """Start OpenSearch-mode servers for one test; all stopped afterwards."""
    servers: list[EsCompatServer] = []

    def start(**kwargs) -> EsCompatServer:
        server = EsCompatServer(engine=kwargs.pop("engine", "opensearch"), **kwargs).start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop()


@pytest.fixture
def rotating_role(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Callable[[str], None]:
    """AWS connection ``aws_rotating`` whose credentials come from a ``credential_process`` (as a role's
    session credentials do: refreshable, with an expiry); calling the fixture issues a new session token."""
    creds = tmp_path / "credentials.json"
    script = tmp_path / "issue-credentials.sh"
    script.write_text(f"#!/bin/sh\nexec cat '{creds}'\n")
    script.chmod(0o755)
    config = tmp_path / "aws-config"
    config.write_text(f"[profile rotating]\ncredential_process = {script}\n")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(config))
    monkeypatch.setenv(
        "AIRFLOW_CONN_AWS_ROTATING",
        json.dumps({"conn_type": "aws", "extra": {"profile_name": "rotating", "region_name": REGION}}),
    )

    def issue(token: str) -> None:
        # expiring within botocore's refresh window: every signature asks the process for the current ones
        expires = (datetime.now(UTC) + timedelta(minutes=5)).strftime("%Y-%m-%dT%H:%M:%SZ")
        creds.write_text(
            json.dumps(
                {
                    "Version": 1,
                    "AccessKeyId": "test",
                    "SecretAccessKey": "test",
                    "SessionToken": token,
                    "Expiration": expires,
                }
            )
        )

    return issue


def test_credential_rotation_mid_extraction_is_survived(opensearch, connect, rotating_role):
    server = opensearch(sigv4=REGION)
    ids = seed(server, 1200)
    connect("os_rotating", server, {"auth": "sigv4", "region_name": REGION, "service": "es"})
    verifier = server.sigv4
    assert verifier is not None
    rotating_role("token-1")
    verifier.configure({"session_tokens": ["token-1"]})
    hook = OpenSearchMessageHook("os_rotating", aws_conn_id="aws_rotating", max_retries=0)
    hook.check_indices(["messages"])
    pages = hook.iter_window_ids("messages", "timestamp", WINDOW, page_size=100)
    seen = list(next(pages))
    frozen = AwsBaseHook(aws_conn_id="aws_rotating", client_type="sts").get_credentials()  # the provider's
    assert frozen.token == "token-1"
    # the role's session credentials rotate: a new token is issued and the old one expires
    rotating_role("token-2")
    verifier.configure({"session_tokens": ["token-2"], "expired_tokens": ["token-1"]})
    for page in pages:
        seen += page
    assert sorted(seen) == sorted(ids) and len(seen) == len(ids)
    assert hook.count_window("messages", "timestamp", WINDOW) == len(ids)
    # what the provider's frozen credentials, taken before the rotation, meet after it:
    stale = OpenSearch(
        hosts=[{"host": "127.0.0.1", "port": server.port}],
        http_auth=RequestsAWSV4SignerAuth(frozen, REGION, "es"),
        connection_class=RequestsHttpConnection,
    )
    with pytest.raises(AuthorizationException, match="security token included in the request is expired"):
        stale.count(index="messages")


@pytest.mark.parametrize("search_engine", ["opensearch"])
@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        (
            {"auth": "sigv4", "region_name": "eu-west-3", "service": "es"},
            [
                r"Credential should be scoped to a valid region",
                r"fix \"region_name\" in the extra of connection "
                r"'elasticsearch_default' \(now 'eu-west-3'\)",
            ],
        ),
        (
            {},
            [
                r"User: anonymous is not authorized",
                r"the request was not signed; for Amazon OpenSearch Service set "
                r"the connection extra \{\"auth\": \"sigv4\"",
            ],
        ),
    ],
    ids=["wrong-region", "unsigned"],
)
def test_wrong_region_or_unsigned_request_fails_extract_fast_naming_connection_and_fix(
    stack: Stack, monkeypatch: pytest.MonkeyPatch, extra, expected
):
    stack.index_messages(*day_of_messages(date(2024, 10, 1), 20))
    server = stack.services.es
    monkeypatch.setenv(
        "AIRFLOW_CONN_ELASTICSEARCH_DEFAULT",
        json.dumps({"conn_type": "opensearch", "host": "127.0.0.1", "port": server.port, "extra": extra}),
    )
    verifier = server.sigv4
    assert verifier is not None
    rejected = verifier.describe()["rejected"]
    started = time.monotonic()
    with pytest.raises(AirflowFailException) as failed:  # fails the task: no Airflow retry
        prepare_window("2024-10-01")
    assert time.monotonic() - started < 30
    assert verifier.describe()["rejected"] - rejected == 1  # one refused request: not retried
    message = str(failed.value)
    assert "OpenSearch connection 'elasticsearch_default'" in message
    for pattern in expected:
        assert re.search(pattern, message), (pattern, message)


def test_cluster_older_than_point_in_time_is_refused_naming_the_version(opensearch, connect):
    server = opensearch(version="2.3.0")
    connect("os_old", server)
    with pytest.raises(SearchCompatibilityError, match=r"runs OpenSearch 2\.3.*needs OpenSearch 2\.4 or later"):
        OpenSearchMessageHook("os_old").check_indices(["messages"])


@pytest.mark.parametrize("version", ["2.19.0", "3.3.0"])
def test_each_version_pages_with_a_tiebreaker_it_supports(opensearch, connect, version):
    server = opensearch(version=version)  # 2.x answers a _shard_doc sort with 400: only _id works there
    ids = seed(server, 450)
    connect("os_versions", server)
    hook = OpenSearchMessageHook("os_versions")
    hook.check_indices(["messages"])
    assert hook._tiebreaker() == ({"_shard_doc": "asc"} if version == "3.3.0" else {"_id": "asc"})
    seen = [mid for page in hook.iter_window_ids("messages", "timestamp", WINDOW, page_size=100) for mid in page]
    assert sorted(seen) == sorted(ids) and len(seen) == len(ids)


def test_engine_and_cluster_mismatch_is_named_with_the_fix(opensearch, connect):
    elastic = opensearch(engine="elasticsearch")
    connect("os_on_es", elastic)
    with pytest.raises(SearchCompatibilityError, match=r"is not OpenSearch.*'elasticsearch.engine: elasticsearch'"):
        OpenSearchMessageHook("os_on_es").check_indices(["messages"])
    search = opensearch()
    connect("es_on_os", search, conn_type="elasticsearch")
    fix = r"HTTP 406.*is not Elasticsearch.*'elasticsearch.engine: opensearch'"
    with pytest.raises(SearchCompatibilityError, match=fix):
        MessageSearchHook("es_on_os", max_retries=0).check_indices(["messages"])


def test_serverless_without_point_in_time_is_refused_at_start(opensearch, connect, monkeypatch):
    server = opensearch(sigv4=REGION, sigv4_service="aoss")
    server.faults.add_error(path_pattern=r"_search/point_in_time", status=404)
    connect("os_serverless", server, {"auth": "sigv4", "region_name": REGION, "service": "aoss"})
    monkeypatch.setenv("AIRFLOW_CONN_AWS_STATIC", json.dumps({"conn_type": "aws", "login": "test", "password": "test"}))
    hook = OpenSearchMessageHook("os_serverless", aws_conn_id="aws_static")
    with pytest.raises(SearchCompatibilityError, match=r"Serverless collection does not offer point in time"):
        hook.check_indices(["messages"])
    assert server.sigv4 is not None and server.sigv4.describe()["accepted"] >= 1  # signed for 'aoss'


def test_bad_sigv4_settings_are_named(opensearch, connect):
    server = opensearch()
    connect("os_bad_service", server, {"auth": "sigv4", "region_name": REGION, "service": "lambda"})
    with pytest.raises(SearchError, match=r"extra service='lambda' is not supported; use \"es\".*\"aoss\""):
        OpenSearchMessageHook("os_bad_service").check_indices(["messages"])
    connect("os_bad_auth", server, {"auth": "kerberos"})
    with pytest.raises(SearchError, match=r"extra auth='kerberos' is not supported"):
        OpenSearchMessageHook("os_bad_auth").check_indices(["messages"])
