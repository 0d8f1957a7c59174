DELETE FROM google_health_tokens WHERE user_id = %(user_id)s RETURNING user_id
