-- A participant's withdrawal link (a new enrolment gives a new one; the old one stops working).
INSERT INTO enrolment_withdrawals (user_id, secret_hash)
VALUES (%(user_id)s, %(secret_hash)s)
ON CONFLICT (user_id) DO UPDATE SET
    secret_hash = EXCLUDED.secret_hash, enrolled_at = now(), withdrawn_at = NULL, data = NULL
