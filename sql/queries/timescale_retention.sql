-- TimescaleDB mode: drop the chunks of raw readings that lie wholly before the retention
-- horizon, now() - older_than (an interval, e.g. '400 days'); returns how many were dropped.
-- The continuous aggregates keep their buckets: drop_chunks on the raw hypertable leaves the
-- materialised 1m/1h/1d data alone. Runs in a transaction or in autocommit.
--
-- Refresh windows must never reach before the retention horizon. drop_chunks records the
-- dropped time range as changed for the continuous aggregates, and refresh_continuous_aggregate
-- recomputes each bucket of a changed range from the raw rows that exist now, for all users at
-- once, replacing what was materialised. Over a dropped range there are no rows, so the first
-- refresh whose window overlaps it deletes those 1-minute buckets; the 1-hour and 1-day
-- refreshes then see the emptied layer below and delete theirs. (Checked on TimescaleDB 2.23:
-- aggregates survive the drop, and the next ordinary refresh over the dropped window empties
-- all three layers.) A late re-load or backfill of a day before the horizon is as bad: its
-- rows land in a re-created chunk and the refresh rebuilds the buckets of that day from that
-- one partition, without every other user's readings. So the refresh windows, and loads,
-- must stay after the horizon, and older_than must be longer than the oldest day that can still
-- be re-fetched plus one day (a local day spans two UTC days).
SELECT count(*) AS dropped_chunks
FROM drop_chunks('activities_heart_intraday', older_than => %(older_than)s::interval)
