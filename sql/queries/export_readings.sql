-- One participant's raw readings in [start, end), oldest first, for the export's binary COPY: every
-- column fixed-width and NOT NULL (a NULL confidence is 0 with its flag set), so rows decode as one array.
COPY (
    SELECT time, bpm, coalesce(confidence, 0::smallint), confidence IS NULL
    FROM activities_heart_intraday
    WHERE user_id = %(user_id)s AND time >= %(start)s AND time < %(end)s
    ORDER BY time
) TO STDOUT (FORMAT binary)
