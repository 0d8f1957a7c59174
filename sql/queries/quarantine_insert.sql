INSERT INTO quarantine (user_id, date, payload, source, record, reason)
VALUES (%(user_id)s, %(date)s, %(payload)s, %(source)s, %(record)s, %(reason)s)
