-- The wear records of participants for local days first..last, by participant (in the order given) and day:
-- the compliance grid as CSV.
SELECT u.user_id, p.date, p.worn_minutes, p.first_reading, p.last_reading
FROM unnest(%(user_ids)s::text[]) WITH ORDINALITY AS u (user_id, position)
JOIN wear_days AS p ON p.user_id = u.user_id AND p.date BETWEEN %(first)s AND %(last)s
ORDER BY u.position, p.date
