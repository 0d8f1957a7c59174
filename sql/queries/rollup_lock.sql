-- PostgreSQL mode: one refresh at a time per rollup table and user. Two runs whose windows
-- share a bucket (the nightly loads two days of a user at once) would otherwise both delete
-- and re-insert it.
SELECT pg_advisory_xact_lock(hashtext(%(relation)s), hashtext(%(user_id)s))
