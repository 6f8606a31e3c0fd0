-- Bulk-record outcomes. Fenced: a row changes only while this worker still holds its lease, so a
-- stale worker (a zombie, or one whose lease was taken over) cannot overwrite newer state.
-- The row always exists (it was claimed); the INSERT branch only carries the values.
-- Assignments run left to right: lease_token is compared before it is cleared, so it goes last.
-- A completed outcome sets the byte range as it is (NULL in the message layout: the object is the
-- message); a failed one keeps the range that goes with the s3_path it keeps.
INSERT INTO message_tracking (message_id, job_id, batch_id, start_date, status, s3_path, last_error, lease_token,
                              body_bytes, body_sha256, archive_offset, archive_length)
VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)
ON DUPLICATE KEY UPDATE
    status = IF(lease_token <=> VALUES(lease_token), VALUES(status), status),
    s3_path = IF(lease_token <=> VALUES(lease_token), COALESCE(VALUES(s3_path), s3_path), s3_path),
    body_bytes = IF(lease_token <=> VALUES(lease_token), COALESCE(VALUES(body_bytes), body_bytes), body_bytes),
    body_sha256 = IF(lease_token <=> VALUES(lease_token), COALESCE(VALUES(body_sha256), body_sha256), body_sha256),
    archive_offset = IF(lease_token <=> VALUES(lease_token) AND VALUES(status) = 'completed',
                        VALUES(archive_offset), archive_offset),
    archive_length = IF(lease_token <=> VALUES(lease_token) AND VALUES(status) = 'completed',
                        VALUES(archive_length), archive_length),
    last_error = IF(lease_token <=> VALUES(lease_token), VALUES(last_error), last_error),
    lease_expires_at = IF(lease_token <=> VALUES(lease_token), NULL, lease_expires_at),
    lease_token = IF(lease_token <=> VALUES(lease_token), NULL, lease_token)
