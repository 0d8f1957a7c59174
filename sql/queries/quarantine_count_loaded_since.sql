-- Records quarantined by the loads of the given users' days since a moment (one backfill's loads).
SELECT coalesce(sum(rows_quarantined), 0)::bigint
FROM partition_loads
WHERE user_id = ANY(%(user_ids)s) AND date BETWEEN %(first)s AND %(last)s AND loaded_at >= %(since)s
