-- One participant's local-day level in [start_date, end_date]: each intraday load's exact figures
-- over the local calendar day, with the day's coverage (worn minutes), whether it is a valid day (worn
-- for at least valid_day_seconds) and the records quarantined.
SELECT date, rows_loaded::bigint AS sample_count, min_bpm, max_bpm, sum_bpm,
       sum_bpm::double precision / nullif(rows_loaded, 0) AS mean_bpm,
       first_reading, last_reading,
       covered_seconds / 60 AS worn_minutes, day_seconds / 60 AS day_minutes,
       coalesce(covered_seconds >= %(valid_day_seconds)s, false) AS valid_day, rows_quarantined
FROM partition_loads
WHERE user_id = %(user_id)s AND payload = 'intraday' AND date BETWEEN %(start_date)s AND %(end_date)s
ORDER BY date
