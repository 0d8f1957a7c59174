-- PostgreSQL mode: clear one user's buckets in the refreshed window. {target} is a rollup table.
DELETE FROM {target} WHERE user_id = %(user_id)s AND bucket >= %(start)s AND bucket < %(end)s
