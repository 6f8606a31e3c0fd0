"""The search engine is chosen by the config in one place, and failures say by their type whether a retry helps."""

from __future__ import annotations

from pathlib import Path

import pytest
from airflow.sdk.exceptions import AirflowException, AirflowFailException

from message_export.config import ConfigError, load_config
from message_export.export import ExportServices
from message_export.hooks.opensearch import OpenSearchMessageHook
from message_export.hooks.search import MessageSearchHook
from message_export.hooks.search_errors import (
    PartialResultsError,
    SearchAccessError,
    SearchCompatibilityError,
    SearchError,
    SearchUnavailableError,
)
from message_export.ledger.errors import TrackingError, TrackingUnavailableError
from message_export.pipeline import explain_failures

REPO = Path(__file__).resolve().parents[2]
VALID = (REPO / "include/config/message_export.yaml").read_text()


def config_with(tmp_path: Path, engine: str | None):
    text = (
        VALID
        if engine is None
        else VALID.replace("elasticsearch:\n  message_index", f"elasticsearch:\n  engine: {engine}\n  message_index")
    )
    path = tmp_path / "config.yaml"
    path.write_text(text)
    return load_config(path)


def test_engine_defaults_to_elasticsearch_and_builds_its_hook(tmp_path):
    config = config_with(tmp_path, None)
    assert config.elasticsearch.engine == "elasticsearch"
    search = ExportServices.from_config(config).search
    assert type(search) is MessageSearchHook
    assert search.elasticsearch_conn_id == "elasticsearch_default"


def test_opensearch_engine_builds_the_opensearch_hook_on_the_same_connection_ids(tmp_path, monkeypatch):
    # the provider's hook reads its connection when built
    monkeypatch.setenv("AIRFLOW_CONN_ELASTICSEARCH_DEFAULT", '{"conn_type": "opensearch", "host": "search.example"}')
    config = config_with(tmp_path, "opensearch")
    search = ExportServices.from_config(config).search
    assert type(search) is OpenSearchMessageHook
    assert (search.conn_id, search.aws_conn_id) == ("elasticsearch_default", "aws_default")


def test_unknown_engine_is_named_with_the_choices(tmp_path):
    with pytest.raises(ConfigError, match=r"key 'elasticsearch.engine'.*'elasticsearch' or 'opensearch'.*'solr'"):
        config_with(tmp_path, "solr")


@pytest.mark.parametrize(
    ("error", "raised"),
    [
        (SearchUnavailableError("down"), AirflowException),
        (PartialResultsError("partial"), AirflowException),
        (TrackingUnavailableError("down"), AirflowException),
        (SearchError("bad"), AirflowFailException),
        (SearchAccessError("403"), AirflowFailException),
        (SearchCompatibilityError("old"), AirflowFailException),
        (TrackingError("no job"), AirflowFailException),
    ],
)
def test_retry_or_fail_follows_the_error_type_not_its_wording(error, raised):
    @explain_failures
    def step() -> None:
        raise error

    with pytest.raises(AirflowException) as caught:
        step()
    assert type(caught.value) is raised and str(caught.value) == str(error)
