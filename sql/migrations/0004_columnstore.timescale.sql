-- 0004 (TimescaleDB): columnstore (compression) of raw readings older than the re-fetch window.
-- segmentby user_id: every query and every re-load is per user; orderby time DESC: recent
-- readings first, as the dashboard reads them. Chunks are converted 7 days after they end:
-- the nightly schedule re-fetches the previous day and devices sync late, so the recent week
-- stays in the rowstore where upserts are cheapest (upserts into converted chunks still work).
-- TimescaleDB 2.18 renamed compression to columnstore; older servers get the old names.
DO $$
DECLARE
    server_version int[] := string_to_array(
        split_part((SELECT extversion FROM pg_extension WHERE extname = 'timescaledb'), '-', 1), '.')::int[];
BEGIN
    IF server_version >= ARRAY[2, 18] THEN
        ALTER TABLE activities_heart_intraday SET (
            timescaledb.enable_columnstore = true,
            timescaledb.segmentby = 'user_id',
            timescaledb.orderby = 'time DESC');
        CALL add_columnstore_policy('activities_heart_intraday', after => INTERVAL '7 days');
    ELSE
        ALTER TABLE activities_heart_intraday SET (
            timescaledb.compress,
            timescaledb.compress_segmentby = 'user_id',
            timescaledb.compress_orderby = 'time DESC');
        PERFORM add_compression_policy('activities_heart_intraday', compress_after => INTERVAL '7 days');
    END IF;
END
$$;
