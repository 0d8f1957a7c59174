-- The participants of one cohort now (what a cohort-scoped key may read).
SELECT id FROM users WHERE cohort = %(cohort)s
