-- Buckets of one aggregate level (relation) that overlap [start, end), as one JSON
-- array per user in the API's point shape.
SELECT user_id, count(*),
       json_agg(json_build_object('timestamp', bucket, 'value', round(avg_bpm::numeric, 2), 'user_id', user_id,
                                  'min', min_bpm, 'max', max_bpm, 'count', sample_count) ORDER BY bucket)::text
FROM {relation}
WHERE user_id = ANY(%(user_ids)s::text[]) AND bucket > %(start)s::timestamptz - %(width)s::interval
  AND bucket < %(end)s
GROUP BY user_id
