-- Quarantined records, newest first: optionally one user's, optionally since a moment.
SELECT user_id, date, payload, source, reason, record, quarantined_at
FROM quarantine
WHERE (%(user_id)s::text IS NULL OR user_id = %(user_id)s)
  AND (%(since)s::timestamptz IS NULL OR quarantined_at >= %(since)s)
ORDER BY quarantined_at DESC, id DESC
LIMIT %(limit)s
