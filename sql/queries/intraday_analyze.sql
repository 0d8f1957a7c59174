-- Fresh planner statistics after a large load; waits at most 10 s for its lock (an
-- autovacuum of the table may hold it), and then the load goes on without them.
SET LOCAL lock_timeout = '10s';
ANALYZE activities_heart_intraday
