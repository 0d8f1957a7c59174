-- One participant's quarantined records in [start_date, end_date]: what the loader refused and why.
SELECT date, payload, record, reason, quarantined_at
FROM quarantine
WHERE user_id = %(user_id)s AND date BETWEEN %(start_date)s AND %(end_date)s
ORDER BY date, payload, id
