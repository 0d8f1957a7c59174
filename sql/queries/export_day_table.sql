-- One participant's rows in [start_date, end_date] of an optional per participant x local day table
-- ({table}: a name from the export's fixed mapping), every column as it stands.
SELECT * FROM {table}
WHERE user_id = %(user_id)s AND date BETWEEN %(start_date)s AND %(end_date)s
ORDER BY date
