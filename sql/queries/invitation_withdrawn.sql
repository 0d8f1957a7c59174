-- Record the withdrawal (once): no row when the link was used meanwhile.
UPDATE enrolment_withdrawals SET withdrawn_at = now(), data = %(data)s
WHERE user_id = %(user_id)s AND secret_hash = %(secret_hash)s AND withdrawn_at IS NULL
RETURNING withdrawn_at
