SELECT count(*) FROM activities_heart_intraday
WHERE user_id = %(user_id)s AND time >= %(start)s AND time < %(end)s
