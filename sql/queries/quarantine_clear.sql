-- A re-load replaces the partition's quarantined records.
DELETE FROM quarantine WHERE user_id = %(user_id)s AND date = %(date)s AND payload = %(payload)s
