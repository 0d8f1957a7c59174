-- The participant an unused, unexpired invitation is for (an active google_health user), or no row.
SELECT i.user_id, i.token_hash, i.expires_at
FROM enrolment_invitations AS i
JOIN users AS u ON u.id = i.user_id
WHERE i.token_hash = %(token_hash)s
  AND i.used_at IS NULL
  AND i.expires_at > now()
  AND u.retired_at IS NULL
  AND u.source = 'google_health'
