-- A new invitation for a participant, replacing (and voiding) the previous one and the consents it started.
WITH voided AS (DELETE FROM enrolment_consents WHERE user_id = %(user_id)s)
INSERT INTO enrolment_invitations (user_id, token_hash, expires_at)
VALUES (%(user_id)s, %(token_hash)s, %(expires_at)s)
ON CONFLICT (user_id) DO UPDATE SET
    token_hash = EXCLUDED.token_hash,
    created_at = now(),
    expires_at = EXCLUDED.expires_at,
    used_at    = NULL
RETURNING created_at, expires_at
