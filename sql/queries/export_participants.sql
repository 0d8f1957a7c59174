-- The participants an export covers ({cohort}: the users' cohort column, or NULL where the schema has
-- none): id, time zone, source kind and the first and last local day loaded. Never source settings.
SELECT u.id, {cohort} AS cohort, u.timezone, u.source, l.first_day, l.last_day
FROM users AS u
LEFT JOIN LATERAL (
    SELECT min(date) AS first_day, max(date) AS last_day FROM partition_loads WHERE user_id = u.id
) AS l ON true
WHERE (%(user_ids)s::text[] IS NULL OR u.id = ANY(%(user_ids)s::text[]))
  AND (%(cohort)s::text IS NULL OR {cohort} = %(cohort)s::text)
ORDER BY u.id
