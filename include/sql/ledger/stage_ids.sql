-- Add a page of extracted ids to the job's staging table ({table}) in one statement.
-- %(ids)s is a JSON array of the ids' UTF-8 bytes in hex (byte-exact for any id, ASCII on the
-- wire). The page travels as one parameter, so the driver escapes one string instead of a value
-- per id, and MySQL (8.0.4+; MariaDB 10.6+) unpacks it with JSON_TABLE. A page written twice (its
-- transaction retried after a lost connection) or an id read twice is a no-op.
INSERT INTO {table} (message_id)
SELECT UNHEX(page.id_hex)
FROM JSON_TABLE(
    %(ids)s, '$[*]' COLUMNS (
        id_hex VARCHAR(1024) CHARACTER SET ascii PATH '$' ERROR ON EMPTY ERROR ON ERROR
    )
) AS page
ON DUPLICATE KEY UPDATE message_id = {table}.message_id
