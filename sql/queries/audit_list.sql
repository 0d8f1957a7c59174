-- Audit rows, newest first, filtered by participant, key and time (NULL: no filter).
SELECT id, at, key_id, route, participants, range_start, range_end, status
FROM api_audit_log
WHERE (%(user_id)s::text IS NULL OR %(user_id)s = ANY(participants))
  AND (%(key_id)s::bigint IS NULL OR key_id = %(key_id)s)
  AND (%(since)s::timestamptz IS NULL OR at >= %(since)s)
ORDER BY at DESC, id DESC
LIMIT %(limit)s
