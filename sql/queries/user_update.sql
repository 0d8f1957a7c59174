-- Change a user's settings; NULL parameters keep the current value. Un-retires and leaves the cohort on request.
UPDATE users SET
    display_name  = coalesce(%(display_name)s, display_name),
    timezone      = coalesce(%(timezone)s, timezone),
    source        = coalesce(%(source)s, source),
    source_config = coalesce(%(source_config)s, source_config),
    seed          = coalesce(%(seed)s, seed),
    start_date    = coalesce(%(start_date)s, start_date),
    cohort        = CASE WHEN %(clear_cohort)s THEN NULL ELSE coalesce(%(cohort)s, cohort) END,
    retired_at    = CASE WHEN %(reactivate)s THEN NULL ELSE retired_at END,
    updated_at    = now()
WHERE id = %(id)s
RETURNING id
