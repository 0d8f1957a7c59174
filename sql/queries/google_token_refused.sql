-- A refresh met invalid_grant: the participant must connect again (the first refusal's time is kept).
UPDATE google_health_tokens SET refused_at = coalesce(refused_at, now()) WHERE user_id = %(user_id)s
