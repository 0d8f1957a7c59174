-- 0005: the bpm range of each intraday load, recorded with it. With covered_seconds it is
-- what a day's summary is checked against, read from one row instead of a scan of the day.
ALTER TABLE partition_loads
    ADD COLUMN min_bpm smallint,
    ADD COLUMN max_bpm smallint;
