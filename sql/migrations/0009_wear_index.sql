-- 0009: the study view's index: each participant's wear records by local day, with the figures the view reads,
-- so that the compliance grid and the status list read the index alone (in day order, no sort) per participant.
CREATE INDEX partition_loads_wear_idx ON partition_loads (user_id, date)
    INCLUDE (covered_seconds, last_reading)
    WHERE payload = 'intraday';
