-- Merge staged rows; a row whose values did not change is left alone (no dead tuple).
INSERT INTO activities_heart_intraday AS t (user_id, time, bpm, confidence)
SELECT user_id, time, bpm, confidence FROM intraday_stage
ON CONFLICT (user_id, time) DO UPDATE
SET bpm = EXCLUDED.bpm, confidence = EXCLUDED.confidence
WHERE (t.bpm, t.confidence) IS DISTINCT FROM (EXCLUDED.bpm, EXCLUDED.confidence)
