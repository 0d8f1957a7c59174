-- 0008: the study view: cohorts, each loaded day's wear record, cohort-scoped keys, refused grants, the audit log.

-- A participant belongs to at most one cohort (a site, an arm), named like a user id.
ALTER TABLE users ADD COLUMN cohort text CHECK (cohort ~ '^[a-z0-9_-]{1,64}$');
CREATE INDEX users_cohort_idx ON users (cohort) WHERE cohort IS NOT NULL;

-- A day's wear record is its intraday load record, written in the load's transaction: covered_seconds
-- counts the minutes holding at least one reading, day_seconds the local day's length (23, 24 or 25 h).
-- The columns allow NULL: a load recorded without them gets them once, from the readings of its local day.
UPDATE partition_loads AS p
SET covered_seconds = coalesce(p.covered_seconds, s.covered_seconds),
    day_seconds = coalesce(p.day_seconds, s.day_seconds),
    first_reading = coalesce(p.first_reading, s.first_reading),
    last_reading = coalesce(p.last_reading, s.last_reading)
FROM (
    SELECT q.user_id, q.date, r.*,
           extract(epoch FROM timezone(u.timezone, (q.date + 1)::timestamp)
                              - timezone(u.timezone, q.date::timestamp))::integer AS day_seconds
    FROM partition_loads AS q
    JOIN users AS u ON u.id = q.user_id
    CROSS JOIN LATERAL (
        -- Whole minutes: every zone in use is offset from UTC by whole minutes, so a UTC minute is a local one.
        SELECT count(DISTINCT date_trunc('minute', i.time AT TIME ZONE 'UTC'))::integer * 60 AS covered_seconds,
               min(i.time) AS first_reading, max(i.time) AS last_reading
        FROM activities_heart_intraday AS i
        WHERE i.user_id = q.user_id
          AND i.time >= timezone(u.timezone, q.date::timestamp)
          AND i.time < timezone(u.timezone, (q.date + 1)::timestamp)
    ) AS r
    WHERE q.payload = 'intraday' AND (q.covered_seconds IS NULL OR q.day_seconds IS NULL)
) AS s
WHERE p.user_id = s.user_id AND p.date = s.date AND p.payload = 'intraday';

-- What the study view reads: one row per participant and loaded local day. Whether a day is valid
-- is decided when it is read (HR_VALID_DAY_MINUTES), so changing the rule changes the view.
CREATE VIEW wear_days AS
SELECT user_id, date, covered_seconds / 60 AS worn_minutes, day_seconds / 60 AS day_minutes,
       first_reading, last_reading, loaded_at
FROM partition_loads
WHERE payload = 'intraday';

-- A key may read one cohort: its participants at the time of each request, those added later included.
ALTER TABLE api_keys ADD COLUMN cohort text CHECK (cohort ~ '^[a-z0-9_-]{1,64}$');
ALTER TABLE api_keys DROP CONSTRAINT api_keys_check;
ALTER TABLE api_keys ADD CONSTRAINT api_keys_reads_something
    CHECK (all_users OR metrics OR cardinality(user_ids) > 0 OR cohort IS NOT NULL);

-- When the nightly load first met Google's invalid_grant for this grant; a reconnect clears it.
ALTER TABLE google_health_tokens ADD COLUMN grant_refused_at timestamptz;

-- Who read which participant's data through the API: one row per request that returns (or was refused)
-- participant data. key_id is NULL when the API runs without keys (HR_API_AUTH=off, loopback only).
CREATE TABLE api_audit_log (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at            timestamptz NOT NULL DEFAULT now(),
    key_id        bigint,
    route         text        NOT NULL,
    participants  text[]      NOT NULL DEFAULT '{}',
    -- The range as the request gave it (instants or local days), NULL where it gave none.
    range_start   text,
    range_end     text,
    status        smallint    NOT NULL
);
CREATE INDEX api_audit_log_at_idx ON api_audit_log (at);

-- The query API may run as the read-only role of docker/initdb (hr_reader): it must be able to write its audit rows.
DO $$
BEGIN
    IF EXISTS (SELECT FROM pg_roles WHERE rolname = 'hr_reader') THEN
        GRANT INSERT ON api_audit_log TO hr_reader;
    END IF;
END
$$;
