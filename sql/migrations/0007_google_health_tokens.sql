-- 0007: each google_health user's OAuth grant; the refresh token encrypted with the operator's key.
CREATE TABLE google_health_tokens (
    user_id                  text PRIMARY KEY REFERENCES users (id),
    -- Fernet ciphertext (hr_assets/encryption.py); the key is never in the database.
    refresh_token_encrypted  bytea       NOT NULL,
    -- The scopes the user granted, space-separated as Google's token endpoint returns them.
    scopes                   text        NOT NULL,
    connected_at             timestamptz NOT NULL DEFAULT now(),
    updated_at               timestamptz NOT NULL DEFAULT now()
);
