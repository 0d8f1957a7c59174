-- Every load record of the given participants: what an export compares with its manifest to find
-- the files whose data changed since it was written.
SELECT user_id, date, payload, loaded_at
FROM partition_loads
WHERE user_id = ANY(%(user_ids)s::text[])
ORDER BY user_id, date, payload
