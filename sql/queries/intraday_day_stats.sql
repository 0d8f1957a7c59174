-- What one local day's readings say, for checking that day's summary against them.
SELECT count(DISTINCT date_trunc('minute', time)), min(bpm), max(bpm)
FROM activities_heart_intraday
WHERE user_id = %(user_id)s AND time >= %(start)s AND time < %(end)s
