-- The users' local calendar days that overlap [start, end), as one JSON array per user in the API's
-- point shape; a day's timestamp is its local midnight with the user's UTC offset on that day.
SELECT d.user_id, count(*),
       json_agg(json_build_object(
           'timestamp', to_char(d.date, 'YYYY-MM-DD') || 'T00:00:00'
                        || CASE WHEN z.utc_offset < interval '0' THEN '-' ELSE '+' END
                        || to_char(greatest(z.utc_offset, -z.utc_offset), 'HH24:MI'),
           'value', round(d.sum_bpm::numeric / d.sample_count, 2), 'user_id', d.user_id,
           'min', d.min_bpm, 'max', d.max_bpm, 'count', d.sample_count) ORDER BY d.date)::text
FROM users AS u
JOIN activities_heart_daily AS d ON d.user_id = u.id
CROSS JOIN LATERAL (
    SELECT d.date::timestamp - timezone('UTC', timezone(u.timezone, d.date::timestamp)) AS utc_offset
) AS z
WHERE u.id = ANY(%(user_ids)s::text[]) AND d.sum_bpm IS NOT NULL
  AND d.date >= timezone(u.timezone, %(start)s::timestamptz)::date
  AND d.date <= timezone(u.timezone, %(end)s::timestamptz - interval '1 microsecond')::date
GROUP BY d.user_id
