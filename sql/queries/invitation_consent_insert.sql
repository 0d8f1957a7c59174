INSERT INTO enrolment_consents (state_hash, user_id, token_hash, code_verifier_encrypted, expires_at)
VALUES (%(state_hash)s, %(user_id)s, %(token_hash)s, %(code_verifier_encrypted)s, now() + %(lifetime)s)
