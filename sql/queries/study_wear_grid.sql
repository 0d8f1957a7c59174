-- The compliance grid: per participant with wear records in first..last, its loaded local days and their worn
-- minutes in day order (one index-only range scan per participant: partition_loads_wear_idx).
SELECT u.user_id, w.days, w.worn_minutes
FROM unnest(%(user_ids)s::text[]) AS u (user_id)
CROSS JOIN LATERAL (
    SELECT array_agg(p.date ORDER BY p.date) AS days, array_agg(p.worn_minutes ORDER BY p.date) AS worn_minutes
    FROM wear_days AS p
    WHERE p.user_id = u.user_id AND p.date BETWEEN %(first)s AND %(last)s
) AS w
WHERE w.days IS NOT NULL
