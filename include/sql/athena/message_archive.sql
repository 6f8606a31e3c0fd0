-- Amazon Athena (AWS Glue Data Catalog) table over the archive: one row per archived message, in both
-- layouts (s3.layout). TextInputFormat reads one JSON document per line: a message-layout object
-- ({id}.json) is one line; a batch-layout object (part-{sha256}.jsonl.gz) is gzip JSON Lines, decompressed
-- by its .gz extension (its concatenated gzip members are one gzip stream), one line per message.
-- Run it in Athena (not in the ledger's MySQL). Partitions come from partition projection on dt, so
-- no Glue crawler and no MSCK REPAIR TABLE: a day is queryable as soon as its objects exist.
-- LOCATION, storage.location.template and the projection range follow include/config/message_export.yaml
-- (s3.bucket, s3.prefix, start_date); change them with it (tests/unit/test_athena_table.py checks).
-- The columns are the document's top-level keys: message_id, message (the Elasticsearch _source)
-- and one per configured related section; nested JSON is kept as JSON text for json_extract*().
-- Day manifests live under {prefix}/_manifests/, outside every partition's location.
CREATE EXTERNAL TABLE IF NOT EXISTS message_archive (
    message_id STRING,
    message STRING,
    history STRING,
    status STRING,
    audit STRING
)
PARTITIONED BY (dt STRING)
ROW FORMAT SERDE 'org.openx.data.jsonserde.JsonSerDe'
WITH SERDEPROPERTIES ('ignore.malformed.json' = 'false', 'case.insensitive' = 'false')
STORED AS INPUTFORMAT 'org.apache.hadoop.mapred.TextInputFormat'
OUTPUTFORMAT 'org.apache.hadoop.hive.ql.io.HiveIgnoreKeyTextOutputFormat'
LOCATION 's3://message-archive/messages/'
TBLPROPERTIES (
    'projection.enabled' = 'true',
    'projection.dt.type' = 'date',
    'projection.dt.format' = 'yyyy-MM-dd',
    'projection.dt.range' = '2024-10-01,NOW',
    'projection.dt.interval' = '1',
    'projection.dt.interval.unit' = 'DAYS',
    'storage.location.template' = 's3://message-archive/messages/dt=${dt}/'
)
