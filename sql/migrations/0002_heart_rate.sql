-- 0002: raw intraday readings, daily summaries and the quarantine of rejected records.

-- One reading every few seconds per user. No foreign key to users: the loader only writes
-- for registered users, and a per-row key check would cost every COPY into this table.
CREATE TABLE activities_heart_intraday (
    user_id     text        NOT NULL,
    time        timestamptz NOT NULL,
    bpm         smallint    NOT NULL,
    confidence  smallint,
    PRIMARY KEY (user_id, time)
);

CREATE TABLE activities_heart_summary (
    user_id                  text        NOT NULL REFERENCES users (id),
    date                     date        NOT NULL,
    resting_heart_rate       smallint,
    heart_rate_zones         jsonb       NOT NULL DEFAULT '[]'::jsonb,
    custom_heart_rate_zones  jsonb       NOT NULL DEFAULT '[]'::jsonb,
    loaded_at                timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (user_id, date)
);

-- Records the parser refused, with the reason; a re-load of a partition replaces its rows here.
CREATE TABLE quarantine (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id         text        NOT NULL,
    date            date        NOT NULL,
    payload         text        NOT NULL CHECK (payload IN ('intraday', 'summary')),
    source          text        NOT NULL,
    record          text        NOT NULL,
    reason          text        NOT NULL,
    quarantined_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX quarantine_partition_idx ON quarantine (user_id, date, payload);

-- One row per loaded partition and payload: what was loaded, when, and how complete it is.
-- The freshness checks and the API read this instead of scanning raw readings.
CREATE TABLE partition_loads (
    user_id           text        NOT NULL REFERENCES users (id),
    date              date        NOT NULL,
    payload           text        NOT NULL CHECK (payload IN ('intraday', 'summary')),
    rows_loaded       integer     NOT NULL,
    rows_quarantined  integer     NOT NULL,
    covered_seconds   integer,
    day_seconds       integer,
    loaded_at         timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (user_id, date, payload)
);
