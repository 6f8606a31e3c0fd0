-- Track a window's staged ids as pending, in message_id order: every index of message_tracking is
-- then written front to back (one pass over the pages it touches) instead of at random, which is
-- what keeps a large window fast when the ledger does not fit in the buffer pool. Batches are cut
-- in the same order (the id's rank in message_id order DIV the batch size; ranks beyond the plan
-- join the last batch, as BatchPlan.batch_number), so the (batch_id, status) index is appended to
-- as well: cut by arrival position, its entries landed at random across the window's batches, and
-- that index alone cost more than the rest of the statement. An id already tracked keeps its row
-- untouched (status, batch, attempts), as with track_messages.
INSERT INTO message_tracking (message_id, job_id, batch_id, start_date, status)
SELECT ranked.message_id, %(job_id)s, batch.batch_id, %(start_date)s, 'pending'
FROM (
    SELECT staged.message_id, ROW_NUMBER() OVER (ORDER BY staged.message_id) - 1 AS id_rank
    FROM {table} AS staged
) AS ranked
JOIN batch_progress AS batch
    ON batch.job_id = %(job_id)s
    AND batch.batch_number = LEAST(ranked.id_rank DIV %(batch_size)s, %(last_batch)s)
ORDER BY ranked.id_rank
ON DUPLICATE KEY UPDATE message_id = message_tracking.message_id
