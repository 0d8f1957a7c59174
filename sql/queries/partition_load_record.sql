INSERT INTO partition_loads
    (user_id, date, payload, rows_loaded, rows_quarantined, covered_seconds, day_seconds, loaded_at)
VALUES (%(user_id)s, %(date)s, %(payload)s, %(rows_loaded)s, %(rows_quarantined)s,
        %(covered_seconds)s, %(day_seconds)s, now())
ON CONFLICT (user_id, date, payload) DO UPDATE
SET rows_loaded = EXCLUDED.rows_loaded,
    rows_quarantined = EXCLUDED.rows_quarantined,
    covered_seconds = EXCLUDED.covered_seconds,
    day_seconds = EXCLUDED.day_seconds,
    loaded_at = EXCLUDED.loaded_at
