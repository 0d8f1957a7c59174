-- PostgreSQL mode: delete raw readings before the retention horizon, now() - older_than.
-- The rollup tables keep their rows; refreshes never reach before the horizon (see
-- timescale_retention.sql for why).
DELETE FROM activities_heart_intraday WHERE time < now() - %(older_than)s::interval
