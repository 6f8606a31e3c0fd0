-- The messages of one batch object that this worker still holds, locked until its outcomes are
-- recorded in the same transaction: a batch object's messages are recorded all together or not at
-- all, so no recorded object holds a message whose row points at another object.
SELECT message_id
FROM message_tracking
WHERE message_id IN %(message_ids)s AND lease_token = %(lease_token)s AND status = 'in_progress'
FOR UPDATE
