-- PostgreSQL mode: a coarser rollup from the layer below ({source}), as the hierarchical
-- continuous aggregates compute it: averages from sums and counts, never averages of averages.
INSERT INTO {target} (user_id, bucket, min_bpm, max_bpm, avg_bpm, sum_bpm, sample_count)
SELECT user_id,
       date_bin(%(width)s::interval, bucket, TIMESTAMPTZ '2000-01-01 00:00:00+00') AS bucket,
       min(min_bpm), max(max_bpm), sum(sum_bpm)::double precision / sum(sample_count),
       sum(sum_bpm)::bigint, sum(sample_count)::bigint
FROM {source}
WHERE user_id = %(user_id)s AND bucket >= %(start)s AND bucket < %(end)s
GROUP BY user_id, 2
