-- A re-load's corrected values: staged rows whose values differ from the stored reading.
-- A row whose values did not change is left alone (no dead tuple). One hash join over the
-- partition's window; with intraday_insert_new it takes half the time of the INSERT ... ON
-- CONFLICT DO UPDATE it replaces, which probed the primary key once per staged row.
UPDATE activities_heart_intraday AS t
SET bpm = s.bpm, confidence = s.confidence
FROM intraday_stage AS s
WHERE t.user_id = %(user_id)s AND t.time >= %(start)s AND t.time < %(end)s
  AND s.user_id = t.user_id AND s.time = t.time
  AND (t.bpm, t.confidence) IS DISTINCT FROM (s.bpm, s.confidence)
