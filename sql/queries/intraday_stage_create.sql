-- Staging for a re-load: the new rows are copied here, then merged in one statement.
CREATE TEMP TABLE intraday_stage (LIKE activities_heart_intraday) ON COMMIT DROP
