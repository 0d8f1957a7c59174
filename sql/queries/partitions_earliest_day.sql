-- The earliest local day the study's data can have: a participant's start date or a day already loaded.
SELECT least((SELECT min(start_date) FROM users), (SELECT min(date) FROM partition_loads))
