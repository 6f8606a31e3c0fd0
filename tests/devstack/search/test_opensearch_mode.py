"""The server's OpenSearch mode, driven by opensearch-py.

Without ``OPENSEARCH_TEST_URL`` the tests run against an in-process ``EsCompatServer(engine="opensearch")``;
with ``OPENSEARCH_TEST_URL=http://localhost:9200`` (a real OpenSearch 2.4+ with the security plugin disabled)
the conformance tests run unchanged against it and the server-specific ones (SigV4, version modes, CLI) are
skipped.
"""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import requests
from botocore.credentials import Credentials
from opensearchpy import OpenSearch, RequestsAWSV4SignerAuth, RequestsHttpConnection, helpers
from opensearchpy.exceptions import AuthorizationException, NotFoundError, RequestError

from devstack.search.server import EsCompatServer

OPENSEARCH_TEST_URL = os.environ.get("OPENSEARCH_TEST_URL")
REAL_CLUSTER = bool(OPENSEARCH_TEST_URL)
server_only = pytest.mark.skipif(REAL_CLUSTER, reason="server-specific test: OPENSEARCH_TEST_URL is a real cluster")
REPO = Path(__file__).resolve().parents[3]
REGION = "eu-central-1"


def client_for(url: str, **kwargs) -> OpenSearch:
    return OpenSearch(hosts=[url], connection_class=RequestsHttpConnection, timeout=30, **kwargs)


@pytest.fixture(scope="module")
def os_url() -> Iterator[str]:
    if REAL_CLUSTER:
        yield OPENSEARCH_TEST_URL  # type: ignore[misc]
        return
    server = EsCompatServer(engine="opensearch", version="2.19.0").start()
    try:
        yield server.url
    finally:
        server.stop()


@pytest.fixture
def client(os_url: str) -> Iterator[OpenSearch]:
    client = client_for(os_url)
    try:
        yield client
    finally:
        client.close()


@pytest.fixture
def index(client: OpenSearch) -> Iterator[str]:
    """A unique index of 25 documents sharing 3 timestamps (ties for the tiebreaker to settle)."""
    name = f"conf-os-{uuid.uuid4().hex[:12]}"
    client.indices.create(
        index=name,
        body={
            "settings": {"number_of_shards": 1},
            "mappings": {"properties": {"timestamp": {"type": "date"}, "message_id": {"type": "keyword"}}},
        },
    )
    base = datetime(2024, 10, 1, tzinfo=UTC)
    actions = [
        {
            "_index": name,
            "_id": f"m-{n:02d}",
            "_source": {"timestamp": (base + timedelta(hours=n % 3)).isoformat(), "message_id": f"m-{n:02d}"},
        }
        for n in range(25)
    ]
    helpers.bulk(client, actions, refresh=True)
    yield name
    client.indices.delete(index=name, ignore_unavailable=True)


def test_root_reports_the_opensearch_distribution(client: OpenSearch):
    version = client.info()["version"]
    assert version["distribution"] == "opensearch"
    assert int(version["number"].split(".")[0]) >= 2


def test_responses_carry_no_elastic_product_header_and_refuse_its_media_types(os_url: str):
    plain = requests.get(os_url + "/", timeout=30)
    assert plain.status_code == 200 and "X-Elastic-Product" not in plain.headers
    compat = requests.get(
        os_url + "/", headers={"Accept": "application/vnd.elasticsearch+json; compatible-with=9"}, timeout=30
    )
    assert compat.status_code == 406


def test_point_in_time_pages_with_id_tiebreaker_once_each_in_order(client: OpenSearch, index: str):
    created = client.create_pit(index=index, keep_alive="1m")
    assert created["pit_id"] and created["_shards"]["failed"] == 0
    pit_id, after, seen = created["pit_id"], None, []
    while True:
        body = {
            "pit": {"id": pit_id, "keep_alive": "1m"},
            "size": 7,
            "sort": [{"timestamp": {"order": "asc"}}, {"_id": "asc"}],
            "_source": False,
            "track_total_hits": False,
        }
        if after is not None:
            body["search_after"] = after
        page = client.search(body=body, allow_partial_search_results=False)
        pit_id = page.get("pit_id", pit_id)
        hits = page["hits"]["hits"]
        if not hits:
            break
        seen += [(h["sort"][0], h["_id"]) for h in hits]
        after = hits[-1]["sort"]
    assert len(seen) == 25 and seen == sorted(seen)  # every document once, in (timestamp, _id) order
    deleted = client.delete_pit(body={"pit_id": [pit_id]})
    assert deleted["pits"] == [{"pit_id": pit_id, "successful": True}]
    with pytest.raises(NotFoundError) as missing:
        client.search(body={"pit": {"id": pit_id, "keep_alive": "1m"}, "size": 1})
    assert "search_context_missing_exception" in str(missing.value.info)


def test_count_mget_and_terms(client: OpenSearch, index: str):
    assert (
        client.count(index=index, body={"query": {"range": {"timestamp": {"lt": "2024-10-01T01:00:00Z"}}}})["count"]
        == 9
    )
    docs = client.mget(index=index, body={"ids": ["m-03", "nope"]})["docs"]
    assert [(d["_id"], d["found"]) for d in docs] == [("m-03", True), ("nope", False)]
    hits = client.search(index=index, body={"query": {"terms": {"message_id": ["m-01", "m-02"]}}, "size": 10})
    assert sorted(h["_id"] for h in hits["hits"]["hits"]) == ["m-01", "m-02"]


def test_shard_doc_sort_needs_opensearch_3_3(client: OpenSearch, index: str):
    major, minor = (int(p) for p in client.info()["version"]["number"].split(".")[:2])
    body = {"sort": [{"_shard_doc": "asc"}], "size": 1}
    if (major, minor) >= (3, 3):
        assert client.search(index=index, body=body)["hits"]["hits"]
    else:
        with pytest.raises(RequestError, match="_shard_doc"):
            client.search(index=index, body=body)


# --- server-specific: versions, SigV4, CLI ---------------------------------------------------------------------


@server_only
def test_version_3_3_sorts_on_shard_doc():
    with EsCompatServer(engine="opensearch", version="3.3.0") as server:
        client = client_for(server.url)
        client.indices.create(index="i", body={"mappings": {"properties": {"timestamp": {"type": "date"}}}})
        client.index(index="i", id="a", body={"timestamp": "2024-10-01T00:00:00Z"}, refresh=True)
        assert client.info()["version"]["number"] == "3.3.0"
        pit = {"id": client.create_pit(index="i", keep_alive="1m")["pit_id"], "keep_alive": "1m"}
        body = {"pit": pit, "sort": [{"_shard_doc": "asc"}]}
        assert client.search(body=body)["hits"]["hits"][0]["_id"] == "a"


@pytest.fixture(scope="module")
def signed_server() -> Iterator[EsCompatServer]:
    server = EsCompatServer(engine="opensearch", sigv4=REGION).start()
    try:
        yield server
    finally:
        server.stop()


def signed(server: EsCompatServer, credentials: Credentials, region: str = REGION) -> OpenSearch:
    return client_for(server.url, http_auth=RequestsAWSV4SignerAuth(credentials, region, "es"))


@server_only
def test_sigv4_accepts_the_test_credentials_with_and_without_session_token(signed_server: EsCompatServer):
    before = signed_server.sigv4.describe()["accepted"]  # type: ignore[union-attr]
    assert signed(signed_server, Credentials("test", "test")).info()["version"]["distribution"] == "opensearch"
    with_token = signed(signed_server, Credentials("test", "test", "session-token-1"))
    with_token.indices.create(index="signed", body={"mappings": {"properties": {"n": {"type": "long"}}}})
    with_token.index(index="signed", id="a/b c", body={"n": 1}, refresh=True)  # path needing escapes
    assert with_token.count(index="signed", body={"query": {"match_all": {}}})["count"] == 1
    with_token.indices.delete(index="signed")
    assert signed_server.sigv4.describe()["accepted"] - before == 5  # type: ignore[union-attr]


@server_only
@pytest.mark.parametrize(
    ("credentials", "region", "message"),
    [
        (Credentials("test", "wrong"), REGION, "signature we calculated does not match"),
        (Credentials("other", "test"), REGION, "security token included in the request is invalid"),
        (Credentials("test", "test"), "us-west-2", "Credential should be scoped to a valid region"),
        (None, REGION, "User: anonymous is not authorized to perform: es:ESHttpPost"),
    ],
    ids=["wrong-secret", "unknown-key", "wrong-region", "unsigned"],
)
def test_sigv4_refusals_answer_amazons_403(signed_server: EsCompatServer, credentials, region, message):
    client = signed(signed_server, credentials, region) if credentials else client_for(signed_server.url)
    with pytest.raises(AuthorizationException) as refused:
        client.count(index="anything", body={"query": {"match_all": {}}})
    assert refused.value.status_code == 403 and message in str(refused.value.info)


@server_only
def test_sigv4_session_token_rotation(signed_server: EsCompatServer):
    control = signed_server.url + "/_fault/sigv4"
    old, new = Credentials("test", "test", "token-old"), Credentials("test", "test", "token-new")
    try:
        requests.post(control, json={"session_tokens": ["token-old"]}, timeout=10).raise_for_status()
        assert signed(signed_server, old).ping()
        with pytest.raises(AuthorizationException, match="is invalid"):
            signed(signed_server, new).info()
        requests.post(
            control, json={"session_tokens": ["token-new"], "expired_tokens": ["token-old"]}, timeout=10
        ).raise_for_status()
        with pytest.raises(AuthorizationException, match="is expired"):
            signed(signed_server, old).info()
        assert signed(signed_server, new).info()["version"]["distribution"] == "opensearch"
    finally:
        requests.post(control, json={"session_tokens": None, "expired_tokens": []}, timeout=10)


@server_only
def test_sigv4_tampered_body_and_stale_signature_are_refused(signed_server: EsCompatServer):
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest

    url = f"{signed_server.url}/_count"
    request = AWSRequest("POST", url, data=b'{"query":{"match_all":{}}}', headers={"Content-Type": "application/json"})
    SigV4Auth(Credentials("test", "test"), "es", REGION).add_auth(request)
    headers = dict(request.headers.items())
    assert requests.post(url, data=request.body, headers=headers, timeout=10).status_code == 200
    tampered = requests.post(url, data=b'{"query":{"match_none":{}}}', headers=headers, timeout=10)
    assert tampered.status_code == 403
    verifier = signed_server.sigv4
    assert verifier is not None
    later = datetime.now(UTC) + timedelta(minutes=6)
    from email.message import Message

    message = Message()
    for name, value in headers.items():
        message[name] = value
    stale = verifier.verify("POST", "/_count", message, request.body, now=later)
    assert stale is not None and stale["message"].startswith("Signature expired")


@server_only
def test_cli_starts_in_opensearch_mode_with_sigv4():
    process = subprocess.Popen(
        [
            *(sys.executable, "-m", "devstack.search.server", "--port", "0"),
            *("--engine", "opensearch", "--version", "2.11.1", "--sigv4", REGION),
        ],
        cwd=REPO,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        line = process.stdout.readline()  # type: ignore[union-attr]
        assert "opensearch-compat 2.11.1 listening on http://127.0.0.1:" in line and REGION in line
        url = line.split(" listening on ")[1].split(",")[0].strip()
        assert requests.get(url + "/", timeout=10).status_code == 403  # unsigned
        server_info = client_for(url, http_auth=RequestsAWSV4SignerAuth(Credentials("test", "test"), REGION)).info()
        assert server_info["version"]["number"] == "2.11.1"
    finally:
        process.terminate()
        process.wait(timeout=30)
