-- 0003 (PostgreSQL): 1-minute, 1-hour and 1-day rollups as ordinary tables, maintained by the
-- refresh assets for exactly the window that changed. Same names and columns as the
-- TimescaleDB continuous aggregates. Buckets are aligned to UTC.
-- sum_bpm and sample_count let each layer roll up from the one below (averages do not).
CREATE TABLE activities_heart_intraday_1m (
    user_id       text             NOT NULL,
    bucket        timestamptz      NOT NULL,
    min_bpm       smallint         NOT NULL,
    max_bpm       smallint         NOT NULL,
    avg_bpm       double precision NOT NULL,
    sum_bpm       bigint           NOT NULL,
    sample_count  bigint           NOT NULL,
    PRIMARY KEY (user_id, bucket)
);
CREATE TABLE activities_heart_intraday_1h (LIKE activities_heart_intraday_1m INCLUDING ALL);
CREATE TABLE activities_heart_intraday_1d (LIKE activities_heart_intraday_1m INCLUDING ALL);
