-- Delete everything collected from one participant, in one statement (so in one transaction): readings,
-- daily summaries, aggregates, load records, quarantined records, the OAuth grant and the invitation; the
-- registry keeps the retired id only (its display name and source settings are cleared).
-- A new table holding participant data is one more line here (test_enrol_withdrawal checks every table
-- with a user_id column). The continuous aggregates of TimescaleDB are not tables: they are refreshed
-- over the participant's deleted range afterwards (hr_assets/warehouse/invitations.py).
WITH intraday AS (DELETE FROM activities_heart_intraday WHERE user_id = %(user_id)s RETURNING 1),
     summary AS (DELETE FROM activities_heart_summary WHERE user_id = %(user_id)s RETURNING 1),
     loads AS (DELETE FROM partition_loads WHERE user_id = %(user_id)s RETURNING 1),
     quarantined AS (DELETE FROM quarantine WHERE user_id = %(user_id)s RETURNING 1),
     grant_ AS (DELETE FROM google_health_tokens WHERE user_id = %(user_id)s RETURNING 1),
     consents AS (DELETE FROM enrolment_consents WHERE user_id = %(user_id)s RETURNING 1),
     invitation AS (DELETE FROM enrolment_invitations WHERE user_id = %(user_id)s RETURNING 1),
     registry AS (
         UPDATE users SET display_name = id, source_config = '{}'::jsonb, updated_at = now()
         WHERE id = %(user_id)s RETURNING 1
     )
SELECT (SELECT count(*) FROM intraday) AS readings,
       (SELECT count(*) FROM summary) AS summaries,
       (SELECT count(*) FROM loads) AS loads,
       (SELECT count(*) FROM quarantined) AS quarantined,
       (SELECT count(*) FROM registry) AS registry
