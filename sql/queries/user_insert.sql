INSERT INTO users (id, display_name, timezone, source, source_config, seed, start_date, cohort)
VALUES (%(id)s, %(display_name)s, %(timezone)s, %(source)s, %(source_config)s, %(seed)s, %(start_date)s, %(cohort)s)
ON CONFLICT (id) DO NOTHING
RETURNING id
