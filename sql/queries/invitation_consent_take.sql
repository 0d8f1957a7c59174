-- Take (delete) a consent by its state, so that a redirect is answered once; expired ones are taken too.
DELETE FROM enrolment_consents WHERE state_hash = %(state_hash)s
RETURNING user_id, token_hash, code_verifier_encrypted, expires_at > now() AS live
