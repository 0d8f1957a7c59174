-- Google answered invalid_grant for this user's grant: keep when that was first seen (a reconnect clears it).
UPDATE google_health_tokens SET grant_refused_at = coalesce(grant_refused_at, now())
WHERE user_id = %(user_id)s
