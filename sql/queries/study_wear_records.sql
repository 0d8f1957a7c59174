-- The wear records of participants for local days first..last, one row each (the compliance grid as CSV).
SELECT user_id, date, worn_minutes, first_reading, last_reading
FROM wear_days
WHERE user_id = ANY(%(user_ids)s) AND date BETWEEN %(first)s AND %(last)s
ORDER BY user_id, date
