-- Store a user's grant; a reconnect replaces the previous one.
INSERT INTO google_health_tokens (user_id, refresh_token_encrypted, scopes)
VALUES (%(user_id)s, %(refresh_token_encrypted)s, %(scopes)s)
ON CONFLICT (user_id) DO UPDATE SET
    refresh_token_encrypted = EXCLUDED.refresh_token_encrypted,
    scopes                  = EXCLUDED.scopes,
    connected_at            = CASE WHEN %(reconnect)s THEN now() ELSE google_health_tokens.connected_at END,
    grant_refused_at        = CASE WHEN %(reconnect)s THEN NULL ELSE google_health_tokens.grant_refused_at END,
    updated_at              = now()
