-- Local days with readings of one user.
SELECT count(*) FROM partition_loads
WHERE user_id = %(user_id)s AND payload = 'intraday' AND rows_loaded > 0
