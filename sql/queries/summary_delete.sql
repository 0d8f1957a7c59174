-- A re-load whose summary has no data any more: the day's summary is withdrawn.
DELETE FROM activities_heart_summary WHERE user_id = %(user_id)s AND date = %(date)s
