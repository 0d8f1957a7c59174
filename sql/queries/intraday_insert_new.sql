-- A re-load's new readings: staged rows with no stored reading in the partition's window (one
-- hash anti-join). ON CONFLICT only matters for a staged row outside the window, which is then
-- merged as before; it sees only the few rows that are new, so it costs nothing.
INSERT INTO activities_heart_intraday AS t (user_id, time, bpm, confidence)
SELECT s.user_id, s.time, s.bpm, s.confidence FROM intraday_stage AS s
WHERE NOT EXISTS (
    SELECT 1 FROM activities_heart_intraday AS w
    WHERE w.user_id = %(user_id)s AND w.time >= %(start)s AND w.time < %(end)s
      AND w.user_id = s.user_id AND w.time = s.time)
ON CONFLICT (user_id, time) DO UPDATE
SET bpm = EXCLUDED.bpm, confidence = EXCLUDED.confidence
WHERE (t.bpm, t.confidence) IS DISTINCT FROM (EXCLUDED.bpm, EXCLUDED.confidence)
