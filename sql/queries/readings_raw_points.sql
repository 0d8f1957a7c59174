-- Raw readings of the users in [start, end) as one JSON array per user, in the API's point shape
-- (a reading is its own min, max and average, from one sample).
SELECT user_id, count(*),
       json_agg(json_build_object('timestamp', time, 'value', bpm, 'user_id', user_id,
                                  'min', bpm, 'max', bpm, 'count', 1) ORDER BY time)::text
FROM activities_heart_intraday
WHERE user_id = ANY(%(user_ids)s::text[]) AND time >= %(start)s AND time < %(end)s
GROUP BY user_id
