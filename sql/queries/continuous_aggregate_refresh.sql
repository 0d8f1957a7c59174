-- TimescaleDB mode: materialise a continuous aggregate over a window of whole buckets.
-- Must run outside a transaction (autocommit connection).
CALL refresh_continuous_aggregate(%(view)s::regclass, %(start)s::timestamptz, %(end)s::timestamptz)
