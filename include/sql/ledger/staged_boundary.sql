-- The first id of the next batch: the id `size` places after %(first_id)s (itself included) in
-- message_id order, in job {table}'s staging table; none when fewer ids are left. A range of the
-- primary key: this reads `size` + 1 index entries.
SELECT message_id
FROM {table}
WHERE message_id >= %(first_id)s
ORDER BY message_id
LIMIT 1 OFFSET %(size)s
