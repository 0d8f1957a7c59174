-- A partition's load record, written in the same transaction as its rows (a re-load replaces it).
INSERT INTO partition_loads
    (user_id, date, payload, rows_loaded, rows_quarantined, covered_seconds, day_seconds, min_bpm, max_bpm,
     sum_bpm, first_reading, last_reading, loaded_at)
VALUES (%(user_id)s, %(date)s, %(payload)s, %(rows_loaded)s, %(rows_quarantined)s,
        %(covered_seconds)s, %(day_seconds)s, %(min_bpm)s, %(max_bpm)s,
        %(sum_bpm)s, %(first_reading)s, %(last_reading)s, now())
ON CONFLICT (user_id, date, payload) DO UPDATE
SET rows_loaded = EXCLUDED.rows_loaded,
    rows_quarantined = EXCLUDED.rows_quarantined,
    covered_seconds = EXCLUDED.covered_seconds,
    day_seconds = EXCLUDED.day_seconds,
    min_bpm = EXCLUDED.min_bpm,
    max_bpm = EXCLUDED.max_bpm,
    sum_bpm = EXCLUDED.sum_bpm,
    first_reading = EXCLUDED.first_reading,
    last_reading = EXCLUDED.last_reading,
    loaded_at = EXCLUDED.loaded_at
