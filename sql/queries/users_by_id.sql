SELECT id, display_name, timezone, source, source_config, seed, start_date, cohort, created_at, updated_at, retired_at
FROM users WHERE id = ANY(%(ids)s)
