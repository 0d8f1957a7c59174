-- The key whose SHA-256 is %(key_hash)s, unless revoked.
SELECT id, name, prefix, all_users, user_ids, metrics, cohort, created_at, revoked_at
FROM api_keys
WHERE key_hash = %(key_hash)s AND revoked_at IS NULL
