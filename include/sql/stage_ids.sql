-- Append a page of extracted ids to the job's staging table ({table}) in one statement.
-- %(ids)s is a JSON array of the ids' UTF-8 bytes in hex (byte-exact for any id, ASCII on the
-- wire); %(first_position)s is the page's first position. The page travels as one parameter, so
-- the driver escapes one string instead of a value per id, and MySQL (8.0.4+; MariaDB 10.6+)
-- unpacks it with JSON_TABLE. A page written twice (its transaction retried after a lost
-- connection) writes the same ids at the same positions again: the duplicate is a no-op.
INSERT INTO {table} (position, message_id)
SELECT %(first_position)s + page.ordinal - 1, UNHEX(page.id_hex)
FROM JSON_TABLE(
    %(ids)s, '$[*]' COLUMNS (
        ordinal FOR ORDINALITY,
        id_hex VARCHAR(1024) CHARACTER SET ascii PATH '$' ERROR ON EMPTY ERROR ON ERROR
    )
) AS page
ON DUPLICATE KEY UPDATE message_id = {table}.message_id
