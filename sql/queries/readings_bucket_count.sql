-- Buckets of an aggregate level (relation) that overlap [start, end): the points it would return.
SELECT count(*)
FROM {relation}
WHERE user_id = ANY(%(user_ids)s::text[]) AND bucket > %(start)s::timestamptz - %(width)s::interval
  AND bucket < %(end)s
