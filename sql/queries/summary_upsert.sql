INSERT INTO activities_heart_summary AS s
    (user_id, date, resting_heart_rate, heart_rate_zones, custom_heart_rate_zones, loaded_at)
VALUES (%(user_id)s, %(date)s, %(resting_heart_rate)s, %(heart_rate_zones)s, %(custom_heart_rate_zones)s, now())
ON CONFLICT (user_id, date) DO UPDATE
SET resting_heart_rate = EXCLUDED.resting_heart_rate,
    heart_rate_zones = EXCLUDED.heart_rate_zones,
    custom_heart_rate_zones = EXCLUDED.custom_heart_rate_zones,
    loaded_at = EXCLUDED.loaded_at
RETURNING (xmax = 0) AS inserted
