-- 0006: what the query API reads: each day's reading extent and bpm sum, the local-day view, API keys.

-- Recorded by every intraday load from now on, in the same transaction as its readings: the first
-- and last reading and the sum of bpm. With rows_loaded, min_bpm and max_bpm they are the day's
-- exact aggregate over the user's local calendar day (23, 24 or 25 hours, any UTC offset), which
-- UTC-bucketed aggregates cannot give for zones such as Asia/Kolkata (+5:30).
ALTER TABLE partition_loads
    ADD COLUMN first_reading timestamptz,
    ADD COLUMN last_reading  timestamptz,
    ADD COLUMN sum_bpm       bigint;

-- Loads recorded before this migration: the same figures from the readings of their local day
-- (one pass over the raw table, once).
UPDATE partition_loads AS p
SET first_reading = s.first_reading,
    last_reading = s.last_reading,
    sum_bpm = s.sum_bpm,
    min_bpm = s.min_bpm,
    max_bpm = s.max_bpm
FROM (
    SELECT q.user_id, q.date, r.*
    FROM partition_loads AS q
    JOIN users AS u ON u.id = q.user_id
    CROSS JOIN LATERAL (
        SELECT min(i.time) AS first_reading, max(i.time) AS last_reading, sum(i.bpm)::bigint AS sum_bpm,
               min(i.bpm) AS min_bpm, max(i.bpm) AS max_bpm
        FROM activities_heart_intraday AS i
        WHERE i.user_id = q.user_id
          AND i.time >= timezone(u.timezone, q.date::timestamp)
          AND i.time < timezone(u.timezone, (q.date + 1)::timestamp)
    ) AS r
    WHERE q.payload = 'intraday' AND q.rows_loaded > 0
) AS s
WHERE p.user_id = s.user_id AND p.date = s.date AND p.payload = 'intraday';

-- One row per user and local calendar day with readings: the API's daily level.
CREATE VIEW activities_heart_daily AS
SELECT user_id, date, min_bpm, max_bpm, sum_bpm, rows_loaded::bigint AS sample_count, first_reading, last_reading
FROM partition_loads
WHERE payload = 'intraday' AND rows_loaded > 0;

-- Bearer keys of the query API. Only a SHA-256 of each key is stored: keys are 256 random bits,
-- so a fast hash is enough to make a leaked table useless.
CREATE TABLE api_keys (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name        text        NOT NULL,
    key_hash    bytea       NOT NULL UNIQUE,
    -- the key's first characters, to tell keys apart in `hr api-keys list`
    prefix      text        NOT NULL,
    all_users   boolean     NOT NULL DEFAULT false,
    user_ids    text[]      NOT NULL DEFAULT '{}',
    metrics     boolean     NOT NULL DEFAULT false,
    created_at  timestamptz NOT NULL DEFAULT now(),
    revoked_at  timestamptz,
    CHECK (all_users OR metrics OR cardinality(user_ids) > 0)
);
