-- The planner's row estimate of the raw table: -1 until it was first analyzed (PostgreSQL 14+).
SELECT reltuples::bigint FROM pg_class WHERE oid = 'activities_heart_intraday'::regclass
