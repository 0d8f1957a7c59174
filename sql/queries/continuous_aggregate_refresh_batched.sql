-- TimescaleDB mode, where refresh_continuous_aggregate takes options (2.21 on): as the plain
-- refresh, with the batch size named. The default batch of 10 buckets makes a year of the
-- 1-minute aggregate 52,560 transactions (~4 min for one sparse user, whatever the data).
-- Must run outside a transaction (autocommit connection).
CALL refresh_continuous_aggregate(
    %(view)s::regclass, %(start)s::timestamptz, %(end)s::timestamptz,
    options => jsonb_build_object('buckets_per_batch', %(buckets_per_batch)s::int)
)
