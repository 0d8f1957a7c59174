-- 0003 (TimescaleDB): hierarchical continuous aggregates: 1 minute from the raw readings,
-- 1 hour from 1 minute, 1 day from 1 hour. Buckets are aligned to UTC.
-- Averages do not roll up, so every layer keeps sum_bpm and sample_count and derives avg_bpm.
-- Real-time aggregation is off (materialized_only): the refresh assets run right after every
-- load, so the materialised data is current, and dashboard queries do not pay for a union
-- with the raw table at every layer of the hierarchy.
-- Created WITH NO DATA; the refresh assets fill them with windows aligned to whole buckets.
CREATE MATERIALIZED VIEW activities_heart_intraday_1m
WITH (timescaledb.continuous, timescaledb.materialized_only = true) AS
SELECT user_id,
       time_bucket(INTERVAL '1 minute', time) AS bucket,
       min(bpm) AS min_bpm,
       max(bpm) AS max_bpm,
       sum(bpm)::double precision / count(*) AS avg_bpm,
       sum(bpm)::bigint AS sum_bpm,
       count(*)::bigint AS sample_count
FROM activities_heart_intraday
GROUP BY user_id, time_bucket(INTERVAL '1 minute', time)
WITH NO DATA;

CREATE MATERIALIZED VIEW activities_heart_intraday_1h
WITH (timescaledb.continuous, timescaledb.materialized_only = true) AS
SELECT user_id,
       time_bucket(INTERVAL '1 hour', bucket) AS bucket,
       min(min_bpm) AS min_bpm,
       max(max_bpm) AS max_bpm,
       sum(sum_bpm)::double precision / sum(sample_count) AS avg_bpm,
       sum(sum_bpm)::bigint AS sum_bpm,
       sum(sample_count)::bigint AS sample_count
FROM activities_heart_intraday_1m
GROUP BY user_id, time_bucket(INTERVAL '1 hour', bucket)
WITH NO DATA;

CREATE MATERIALIZED VIEW activities_heart_intraday_1d
WITH (timescaledb.continuous, timescaledb.materialized_only = true) AS
SELECT user_id,
       time_bucket(INTERVAL '1 day', bucket) AS bucket,
       min(min_bpm) AS min_bpm,
       max(max_bpm) AS max_bpm,
       sum(sum_bpm)::double precision / sum(sample_count) AS avg_bpm,
       sum(sum_bpm)::bigint AS sum_bpm,
       sum(sample_count)::bigint AS sample_count
FROM activities_heart_intraday_1h
GROUP BY user_id, time_bucket(INTERVAL '1 day', bucket)
WITH NO DATA;
