-- 0002 (TimescaleDB): raw intraday readings as a hypertable.
-- One-day chunks: a partition is a user's local day, so a nightly load or a re-fetch touches
-- one or two chunks, and the columnstore policy converts whole days. At one reading per second
-- a user adds ~86,400 rows (~6 MB with its index) a day, so even a few hundred users keep
-- the active chunk's index well inside memory.
SELECT create_hypertable('activities_heart_intraday', by_range('time', INTERVAL '1 day'));
