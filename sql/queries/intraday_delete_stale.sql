-- Readings of the partition that the new data no longer has (a corrected re-load); run only
-- when the counts show there are some.
DELETE FROM activities_heart_intraday AS t
WHERE t.user_id = %(user_id)s AND t.time >= %(start)s AND t.time < %(end)s
  AND NOT EXISTS (SELECT 1 FROM intraday_stage AS s WHERE s.user_id = t.user_id AND s.time = t.time)
