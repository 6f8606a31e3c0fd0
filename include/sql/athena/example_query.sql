-- Example Athena query over message_archive (athena_message_archive.sql): a week's messages per
-- day with their related records. The dt predicate prunes to seven partitions (seven S3 prefixes).
SELECT dt,
       COUNT(*) AS messages,
       SUM(json_array_length(json_parse(history))) AS history_records,
       SUM(json_array_length(json_parse(status))) AS status_records,
       SUM(json_array_length(json_parse(audit))) AS audit_records,
       MIN(json_extract_scalar(message, '$.timestamp')) AS first_message_at
FROM message_archive
WHERE dt BETWEEN '2024-10-01' AND '2024-10-07'
GROUP BY dt
ORDER BY dt
