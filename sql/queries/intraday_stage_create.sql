-- Staging for a re-load: the new rows are copied here, then merged (intraday_update_changed,
-- intraday_insert_new, and intraday_delete_stale when the counts show stale rows).
CREATE TEMP TABLE intraday_stage (LIKE activities_heart_intraday) ON COMMIT DROP
