-- The participant a withdrawal link belongs to, while they have not withdrawn.
SELECT user_id FROM enrolment_withdrawals WHERE secret_hash = %(secret_hash)s AND withdrawn_at IS NULL
