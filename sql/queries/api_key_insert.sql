INSERT INTO api_keys (name, key_hash, prefix, all_users, user_ids, metrics, cohort)
VALUES (%(name)s, %(key_hash)s, %(prefix)s, %(all_users)s, %(user_ids)s, %(metrics)s, %(cohort)s)
RETURNING id, name, prefix, all_users, user_ids, metrics, cohort, created_at, revoked_at
