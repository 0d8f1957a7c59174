SELECT refresh_token_encrypted, scopes, connected_at, oauth_client
FROM google_health_tokens WHERE user_id = %(user_id)s
