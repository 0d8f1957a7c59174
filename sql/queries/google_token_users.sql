SELECT user_id FROM google_health_tokens WHERE user_id = ANY(%(user_ids)s)
