-- The days in [first, last] of the given users whose intraday and summary payloads both have a load record.
SELECT user_id, date FROM partition_loads
WHERE user_id = ANY(%(user_ids)s::text[]) AND date BETWEEN %(first)s AND %(last)s
GROUP BY user_id, date
HAVING count(DISTINCT payload) = 2
