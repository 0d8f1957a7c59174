-- One participant's daily summaries in [start_date, end_date]: the resting heart rate as the source
-- reported it and how many zones of each kind the day has (the zones themselves: export_zones.sql).
SELECT date, resting_heart_rate,
       jsonb_array_length(heart_rate_zones) AS zones, jsonb_array_length(custom_heart_rate_zones) AS custom_zones
FROM activities_heart_summary
WHERE user_id = %(user_id)s AND date BETWEEN %(start_date)s AND %(end_date)s
ORDER BY date
