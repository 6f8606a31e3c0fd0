"""A search cluster that keeps failing becomes an error that names what went wrong and whether a later
retry can help, on both engines; the faults are injected over the wire by the test server."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from tests.fixtures.export_stack import Stack
from tests.fixtures.messages import day_of_messages
from tests.fixtures.services import BOTH_ENGINES


@BOTH_ENGINES
def test_a_cluster_that_never_answers_in_time_fails_retryably_naming_the_timeout(stack: Stack, search_engine: str):
    from message_export.config import load_config
    from message_export.export import ExportServices
    from message_export.hooks.search_errors import SearchUnavailableError
    from message_export.windows import Window

    messages, related = day_of_messages(date(2024, 10, 1), 10)
    stack.index_messages(messages, related)
    stack.write_config(**{"elasticsearch.request_timeout": 0.5, "elasticsearch.max_retries": 1})
    faults = stack.services.es.faults
    faults.stall(1.5, path_pattern=r"_count", count=2)  # the attempt and its one retry both time out
    config = load_config()
    search = ExportServices.from_config(config).search
    window = Window(datetime(2024, 10, 1, tzinfo=UTC), datetime(2024, 10, 2, tzinfo=UTC))

    with pytest.raises(SearchUnavailableError) as caught:
        search.count_window(config.elasticsearch.message_index, config.elasticsearch.timestamp_field, window)

    assert faults.counters()["stalls"] == 2
    error = caught.value
    assert error.retryable  # the task is retried by Airflow, not failed for good
    text = str(error)
    assert "timed out while counting window" in text and "request_timeout 0.5s" in text, text
    assert "elasticsearch.request_timeout" in text  # what to change if it persists
    engine = "OpenSearch" if search_engine == "opensearch" else "Elasticsearch"
    assert f"{engine} connection" in text, text
    # once the cluster answers again, the same hook counts the window
    assert search.count_window(config.elasticsearch.message_index, config.elasticsearch.timestamp_field, window) == 10
