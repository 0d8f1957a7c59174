-- One participant's raw readings in [start, end), oldest first, for the export: one row per UTC day with
-- each column as an array (a row a day, not one a reading), every element NOT NULL (a NULL confidence is
-- 0 with its flag set). Each day is an index range read in time order, which the aggregates' shared
-- ORDER BY then needs no sort for (PostgreSQL 16+).
SELECT r.*
FROM generate_series(
    date_trunc('day', %(start)s::timestamptz), %(end)s::timestamptz - interval '1 microsecond', interval '1 day'
) AS d (day)
CROSS JOIN LATERAL (
    SELECT array_agg(time ORDER BY time) AS times, array_agg(bpm ORDER BY time),
           array_agg(coalesce(confidence, 0::smallint) ORDER BY time), array_agg(confidence IS NULL ORDER BY time)
    FROM activities_heart_intraday
    WHERE user_id = %(user_id)s
      AND time >= greatest(d.day, %(start)s::timestamptz)
      AND time < least(d.day + interval '1 day', %(end)s::timestamptz)
) AS r
WHERE r.times IS NOT NULL
ORDER BY d.day
