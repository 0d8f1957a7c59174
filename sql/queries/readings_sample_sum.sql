-- Readings in the buckets of an aggregate level (relation) that overlap [start, end): an upper
-- bound of the raw readings in the window, from a bucket per user and width at most.
SELECT coalesce(sum(sample_count), 0)::bigint
FROM {relation}
WHERE user_id = ANY(%(user_ids)s::text[]) AND bucket > %(start)s::timestamptz - %(width)s::interval
  AND bucket < %(end)s
