-- TimescaleDB mode: one refresh at a time per continuous aggregate. TimescaleDB refuses a refresh
-- whose window overlaps one under way (55P03, "due to a concurrent refresh") instead of making it
-- wait; a history run and a forced nightly refresh the same days. A session lock on the refresh's
-- own autocommit connection, so the second waits its turn; it ends with the connection.
SELECT pg_advisory_lock(hashtext('continuous_aggregate_refresh'), hashtext(%(view)s))
