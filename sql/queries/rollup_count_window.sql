-- Buckets of one user in a refreshed window ({target} is an aggregate relation).
SELECT count(*) FROM {target} WHERE user_id = %(user_id)s AND bucket >= %(start)s AND bucket < %(end)s
