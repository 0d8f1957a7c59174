-- PostgreSQL mode: storage of the raw readings and each rollup table (no columnstore here).
SELECT r.name AS relation, r.name AS hypertable, pg_total_relation_size(r.name::regclass) AS total_bytes,
       0::bigint AS chunks, 0::bigint AS columnstore_chunks, 0::bigint AS before_compression_bytes,
       0::bigint AS after_compression_bytes, NULL::numeric AS compression_ratio
FROM (VALUES (0, 'activities_heart_intraday'), (1, 'activities_heart_intraday_1m'),
             (2, 'activities_heart_intraday_1h'), (3, 'activities_heart_intraday_1d')) AS r (position, name)
ORDER BY r.position
