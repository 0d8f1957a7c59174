INSERT INTO api_keys (name, key_hash, prefix, all_users, user_ids, metrics)
VALUES (%(name)s, %(key_hash)s, %(prefix)s, %(all_users)s, %(user_ids)s, %(metrics)s)
RETURNING id, name, prefix, all_users, user_ids, metrics, created_at, revoked_at
