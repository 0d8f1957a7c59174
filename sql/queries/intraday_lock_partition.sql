-- Serialise loads of one partition (user, local day) without blocking other partitions.
SELECT pg_advisory_xact_lock(hashtext(%(user_id)s), %(day_number)s)
