"""The Athena table in include/sql/ matches the archive the packaged config produces."""

from __future__ import annotations

import hashlib
import json
from datetime import date
from pathlib import Path

import pytest
import sqlglot
from sqlglot import exp

from message_export.config import ExportConfig, load_config
from message_export.documents import build_archive_document
from message_export.gzip_members import batch_object_key
from message_export.keys import archive_key, day_prefix, s3_uri
from message_export.manifest import manifest_key

REPO = Path(__file__).resolve().parents[2]
DDL = REPO / "include/sql/athena/message_archive.sql"
QUERY = REPO / "include/sql/athena/example_query.sql"


@pytest.fixture(scope="module")
def config() -> ExportConfig:
    return load_config(REPO / "include/config/message_export.yaml")


@pytest.fixture(scope="module")
def table() -> exp.Create:
    parsed = sqlglot.parse_one(DDL.read_text(), read="athena", error_level=sqlglot.ErrorLevel.RAISE)
    assert isinstance(parsed, exp.Create) and parsed.kind == "TABLE"
    return parsed


def _properties(table: exp.Create) -> dict[str, str]:
    found: dict[str, str] = {}
    for prop in table.find_all(exp.Property):
        if isinstance(prop.this, exp.Literal) and isinstance(prop.args.get("value"), exp.Literal):
            found[prop.this.this] = prop.args["value"].this
    return found


def test_table_is_external_json_and_partitioned_by_dt(table: exp.Create):
    assert table.find(exp.ExternalProperty) is not None
    serde = table.find(exp.RowFormatSerdeProperty)
    assert serde is not None and serde.this.this == "org.openx.data.jsonserde.JsonSerDe"
    partitioned = table.find(exp.PartitionedByProperty)
    assert partitioned is not None
    assert [column.name for column in partitioned.find_all(exp.ColumnDef)] == ["dt"]


def test_columns_are_the_archived_documents_top_level_keys(table: exp.Create, config: ExportConfig):
    columns = [column.name for column in table.this.expressions]
    body = build_archive_document(
        "m-1", {"timestamp": "2024-10-01T00:00:00Z"}, {key: [] for key in config.elasticsearch.related}, "timestamp"
    )
    assert sorted(columns) == sorted(json.loads(body))
    assert set(columns) == {"message_id", "message", *config.elasticsearch.related}


def test_location_and_projection_follow_the_configs_key_layout(table: exp.Create, config: ExportConfig):
    bucket, prefix = config.s3.bucket, config.s3.prefix
    location = table.find(exp.LocationProperty)
    assert location is not None and location.this.this == f"s3://{bucket}/{prefix}/"
    props = _properties(table)
    assert props["projection.enabled"] == "true"
    assert props["projection.dt.type"] == "date"
    assert props["projection.dt.format"] == "yyyy-MM-dd"
    assert props["projection.dt.interval"] == "1" and props["projection.dt.interval.unit"] == "DAYS"
    first, last = props["projection.dt.range"].split(",")
    assert date.fromisoformat(first) == config.start_date and last == "NOW"
    template = props["storage.location.template"]
    for day in (config.start_date, date(2031, 12, 31)):
        # the projected location of a day is exactly the prefix the export writes that day under
        partition = template.replace("${dt}", day.isoformat())
        assert partition == s3_uri(bucket, day_prefix(prefix, day))
        assert s3_uri(bucket, archive_key(prefix, day, "a/b c")).startswith(partition)
        # a batch-layout object of the day is in the same partition, read as text by its .gz extension
        batch_key = batch_object_key(prefix, day, hashlib.sha256(b"object").digest())
        assert s3_uri(bucket, batch_key).startswith(partition) and batch_key.endswith(".gz")
        # and the day's manifest is outside it
        assert not s3_uri(bucket, manifest_key(prefix, day)).startswith(partition)


def test_both_layouts_are_read_as_text_one_json_document_per_line(table: exp.Create):
    """TextInputFormat splits on lines and decompresses .gz by extension: a message-layout object is one
    line, a batch-layout object's gzip members one stream of lines; no layout needs a table of its own."""
    text = table.sql(dialect="athena")
    assert "org.apache.hadoop.mapred.TextInputFormat" in text


def test_example_query_reads_the_table_by_partition():
    query = sqlglot.parse_one(QUERY.read_text(), read="athena", error_level=sqlglot.ErrorLevel.RAISE)
    assert isinstance(query, exp.Select)
    assert [t.name for t in query.find_all(exp.Table)] == ["message_archive"]
    where = query.find(exp.Where)
    assert where is not None and "dt" in {c.name for c in where.find_all(exp.Column)}
