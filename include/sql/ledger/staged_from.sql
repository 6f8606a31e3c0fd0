-- How many ids job {table}'s staging table holds from %(first_id)s on (the last batch's).
SELECT COUNT(*)
FROM {table}
WHERE message_id >= %(first_id)s
