-- One participant's buckets of one rollup ({relation}: a name from the export's fixed mapping) in
-- [start, end), oldest first, for the export's binary COPY (every column fixed-width and NOT NULL).
COPY (
    SELECT bucket, min_bpm, max_bpm, avg_bpm, sum_bpm, sample_count
    FROM {relation}
    WHERE user_id = %(user_id)s AND bucket >= %(start)s AND bucket < %(end)s
    ORDER BY bucket
) TO STDOUT (FORMAT binary)
