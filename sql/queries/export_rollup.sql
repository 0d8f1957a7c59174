-- One participant's buckets of one rollup ({relation}: a name from the export's fixed mapping) in
-- [start, end), oldest first, for the export: one row per UTC day, each column an array
-- (as export_readings.sql).
SELECT r.*
FROM generate_series(
    date_trunc('day', %(start)s::timestamptz), %(end)s::timestamptz - interval '1 microsecond', interval '1 day'
) AS d (day)
CROSS JOIN LATERAL (
    SELECT array_agg(bucket ORDER BY bucket) AS buckets, array_agg(min_bpm ORDER BY bucket),
           array_agg(max_bpm ORDER BY bucket), array_agg(avg_bpm ORDER BY bucket),
           array_agg(sum_bpm ORDER BY bucket), array_agg(sample_count ORDER BY bucket)
    FROM {relation}
    WHERE user_id = %(user_id)s
      AND bucket >= greatest(d.day, %(start)s::timestamptz)
      AND bucket < least(d.day + interval '1 day', %(end)s::timestamptz)
) AS r
WHERE r.buckets IS NOT NULL
ORDER BY d.day
