-- PostgreSQL mode: the 1-minute rollup of one user's window, as the continuous aggregate computes it.
INSERT INTO {target} (user_id, bucket, min_bpm, max_bpm, avg_bpm, sum_bpm, sample_count)
SELECT user_id,
       date_bin(%(width)s::interval, time, TIMESTAMPTZ '2000-01-01 00:00:00+00') AS bucket,
       min(bpm), max(bpm), sum(bpm)::double precision / count(*), sum(bpm)::bigint, count(*)
FROM activities_heart_intraday
WHERE user_id = %(user_id)s AND time >= %(start)s AND time < %(end)s
GROUP BY user_id, 2
