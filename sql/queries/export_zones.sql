-- One participant's heart-rate zones in [start_date, end_date], one row per day, kind and zone, in the
-- source's order: limits and minutes as the source defines them (Fitbit's heartRateZones and
-- customHeartRateZones). The loader accepts only non-negative numbers; the sources send whole ones.
SELECT s.date, z.kind, e.position::smallint AS position, e.zone ->> 'name' AS name,
       round((e.zone ->> 'min')::numeric)::integer AS min_bpm,
       round((e.zone ->> 'max')::numeric)::integer AS max_bpm,
       round((e.zone ->> 'minutes')::numeric)::integer AS minutes,
       (e.zone ->> 'caloriesOut')::double precision AS calories_out
FROM activities_heart_summary AS s
CROSS JOIN LATERAL (VALUES ('standard', s.heart_rate_zones), ('custom', s.custom_heart_rate_zones)) AS z (kind, zones)
CROSS JOIN LATERAL jsonb_array_elements(z.zones) WITH ORDINALITY AS e (zone, position)
WHERE s.user_id = %(user_id)s AND s.date BETWEEN %(start_date)s AND %(end_date)s
ORDER BY s.date, z.kind DESC, e.position
