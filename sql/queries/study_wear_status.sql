-- Per participant, from the wear records only (partition_loads_wear_idx): the newest reading, and the valid days
-- among its due days (first_due_day .. last_due_day) overall, in the last 7 and 30 of them, and the newest one.
SELECT d.user_id, n.last_reading AS newest_reading,
       coalesce(v.valid_days_7, 0) AS valid_days_7, coalesce(v.valid_days_30, 0) AS valid_days_30,
       coalesce(v.valid_days_total, 0) AS valid_days_total, v.last_valid_day
FROM unnest(%(user_ids)s::text[], %(first_due_days)s::date[], %(last_due_days)s::date[])
     AS d (user_id, first_due_day, last_due_day)
LEFT JOIN LATERAL (
    SELECT p.last_reading FROM wear_days AS p
    WHERE p.user_id = d.user_id AND p.last_reading IS NOT NULL
    ORDER BY p.date DESC LIMIT 1
) AS n ON true
LEFT JOIN LATERAL (
    SELECT count(*) FILTER (WHERE p.date > d.last_due_day - 7) AS valid_days_7,
           count(*) FILTER (WHERE p.date > d.last_due_day - 30) AS valid_days_30,
           count(*) AS valid_days_total,
           max(p.date) AS last_valid_day
    FROM wear_days AS p
    WHERE p.user_id = d.user_id
      AND p.date BETWEEN d.first_due_day AND d.last_due_day
      AND p.worn_minutes >= %(valid_day_minutes)s
) AS v ON true
