SELECT min(time), max(time) FROM activities_heart_intraday WHERE user_id = %(user_id)s
