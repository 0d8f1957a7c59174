-- Registered users among %(user_ids)s (all users when it is NULL) with their time zone and the first
-- and last reading on record (from the load records, never a scan of the readings).
SELECT u.id, u.timezone, u.retired_at, f.first_reading, l.last_reading
FROM users AS u
LEFT JOIN LATERAL (
    SELECT p.first_reading FROM partition_loads AS p
    WHERE p.user_id = u.id AND p.payload = 'intraday' AND p.rows_loaded > 0
    ORDER BY p.date LIMIT 1
) AS f ON true
LEFT JOIN LATERAL (
    SELECT p.last_reading FROM partition_loads AS p
    WHERE p.user_id = u.id AND p.payload = 'intraday' AND p.rows_loaded > 0
    ORDER BY p.date DESC LIMIT 1
) AS l ON true
WHERE %(user_ids)s::text[] IS NULL OR u.id = ANY(%(user_ids)s::text[])
ORDER BY u.id
