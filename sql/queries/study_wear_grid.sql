-- The compliance grid: each participant's loaded local days in first..last and their worn minutes, in day order.
SELECT user_id, array_agg(date ORDER BY date) AS days, array_agg(worn_minutes ORDER BY date) AS worn_minutes
FROM wear_days
WHERE user_id = ANY(%(user_ids)s) AND date BETWEEN %(first)s AND %(last)s
GROUP BY user_id
