-- The load records of the given (user, date) partitions of one payload.
SELECT user_id, date, rows_loaded, covered_seconds, day_seconds, min_bpm, max_bpm, loaded_at
FROM partition_loads
WHERE payload = %(payload)s AND (user_id, date) IN (SELECT * FROM unnest(%(user_ids)s::text[], %(dates)s::date[]))
