SELECT id, name, prefix, all_users, user_ids, metrics, cohort, created_at, revoked_at
FROM api_keys
WHERE %(include_revoked)s OR revoked_at IS NULL
ORDER BY id
