-- 0001: the registry of users whose heart rate the pipeline loads.
CREATE TABLE users (
    -- lower-case letters, digits, '_' and '-', 1 to 64 characters: safe in partition keys and URLs.
    id             text PRIMARY KEY CHECK (id ~ '^[a-z0-9_-]{1,64}$'),
    display_name   text        NOT NULL,
    -- IANA time zone; a partition's date is a calendar date in this zone.
    timezone       text        NOT NULL,
    source         text        NOT NULL DEFAULT 'simulated',
    source_config  jsonb       NOT NULL DEFAULT '{}'::jsonb,
    seed           integer,
    start_date     date        NOT NULL,
    created_at     timestamptz NOT NULL DEFAULT now(),
    updated_at     timestamptz NOT NULL DEFAULT now(),
    -- Retired users keep their data; they just stop being scheduled.
    retired_at     timestamptz
);
