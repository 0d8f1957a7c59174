-- One user's local days in [start_date, end_date] that have a summary or an intraday load: resting
-- heart rate and zones (Fitbit's JSON), coverage of the day and records quarantined by either load.
SELECT coalesce(s.date, i.date) AS date,
       s.resting_heart_rate,
       s.heart_rate_zones,
       s.custom_heart_rate_zones,
       i.covered_seconds,
       i.day_seconds,
       coalesce(i.rows_quarantined, 0) + coalesce(q.rows_quarantined, 0) AS rows_quarantined
FROM (
    SELECT * FROM activities_heart_summary
    WHERE user_id = %(user_id)s AND date BETWEEN %(start_date)s AND %(end_date)s
) AS s
FULL JOIN (
    SELECT * FROM partition_loads
    WHERE user_id = %(user_id)s AND payload = 'intraday' AND date BETWEEN %(start_date)s AND %(end_date)s
) AS i ON i.date = s.date
LEFT JOIN partition_loads AS q
    ON q.user_id = %(user_id)s AND q.payload = 'summary' AND q.date = coalesce(s.date, i.date)
ORDER BY 1
