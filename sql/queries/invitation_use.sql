-- Mark an invitation used, once: no row when it was used, replaced or expired meanwhile.
UPDATE enrolment_invitations SET used_at = now()
WHERE user_id = %(user_id)s AND token_hash = %(token_hash)s AND used_at IS NULL AND expires_at > now()
RETURNING user_id
