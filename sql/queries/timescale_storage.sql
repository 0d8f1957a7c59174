-- TimescaleDB mode: storage of the raw readings and of each continuous aggregate, one row per
-- relation: the raw hypertable, then the 1m/1h/1d aggregates (measured on their
-- materialisation hypertables, where their rows live).
--   total_bytes        everything on disk now (hypertable_size: rowstore and columnstore chunks,
--                      indexes and TOAST)
--   chunks, columnstore_chunks   all chunks, and those converted to the columnstore
--   before_compression_bytes     the converted chunks' size just before they were converted
--   after_compression_bytes      their size just after (both 0 when nothing was converted)
--   compression_ratio            before / after, NULL when nothing was converted
-- The before/after figures are recorded when a chunk is converted; rows upserted into a
-- converted chunk afterwards are counted in total_bytes only. The aggregates have no
-- columnstore, so they report only total_bytes and chunks.
-- hypertable_compression_stats exists in every TimescaleDB 2.x; 2.18 added
-- hypertable_columnstore_stats under the new name, a wrapper with the same columns
-- (SELECT * FROM hypertable_compression_stats($1)), which does not exist before 2.18. The old
-- name is used so that this runs on every server 0004_columnstore supports.
-- No parameters (and no percent sign anywhere, so it runs with or without a parameter dict).
WITH relation AS (
    SELECT 0 AS position, 'activities_heart_intraday'::text AS name,
           'activities_heart_intraday'::regclass AS hypertable
    UNION ALL
    SELECT CASE c.view_name WHEN 'activities_heart_intraday_1m' THEN 1
                            WHEN 'activities_heart_intraday_1h' THEN 2 ELSE 3 END,
           c.view_name::text,
           (quote_ident(c.materialization_hypertable_schema) || '.'
            || quote_ident(c.materialization_hypertable_name))::regclass
    FROM timescaledb_information.continuous_aggregates AS c
    WHERE c.view_schema = current_schema()
      AND c.view_name IN ('activities_heart_intraday_1m', 'activities_heart_intraday_1h',
                          'activities_heart_intraday_1d')
)
SELECT r.name AS relation,
       r.hypertable::text AS hypertable,
       coalesce(hypertable_size(r.hypertable), 0) AS total_bytes,
       (SELECT count(*) FROM show_chunks(r.hypertable)) AS chunks,
       coalesce(s.columnstore_chunks, 0) AS columnstore_chunks,
       coalesce(s.before_bytes, 0) AS before_compression_bytes,
       coalesce(s.after_bytes, 0) AS after_compression_bytes,
       round(s.before_bytes::numeric / nullif(s.after_bytes, 0), 2) AS compression_ratio
FROM relation AS r
LEFT JOIN LATERAL (
    -- No row for a hypertable without a columnstore; one row per data node on old multi-node setups.
    SELECT sum(st.number_compressed_chunks)::bigint AS columnstore_chunks,
           sum(st.before_compression_total_bytes)::bigint AS before_bytes,
           sum(st.after_compression_total_bytes)::bigint AS after_bytes
    FROM hypertable_compression_stats(r.hypertable) AS st
) AS s ON true
ORDER BY r.position
