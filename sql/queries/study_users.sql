-- The participants a caller may read (every one, or those named), optionally of one cohort, with their Google grant.
-- An enrolment link still to be used, and a withdrawal by the participant, come from the enrolment tables.
SELECT u.id AS user_id, u.cohort, u.source, u.timezone, u.start_date, u.retired_at, u.source_config,
       t.connected_at, t.grant_refused_at,
       CASE WHEN i.used_at IS NULL THEN i.expires_at END AS invited_until,
       w.withdrawn_at
FROM users AS u
LEFT JOIN google_health_tokens AS t ON t.user_id = u.id
LEFT JOIN enrolment_invitations AS i ON i.user_id = u.id
LEFT JOIN enrolment_withdrawals AS w ON w.user_id = u.id
WHERE (%(all_users)s OR u.id = ANY(%(user_ids)s))
  AND (%(cohort)s::text IS NULL OR u.cohort = %(cohort)s)
ORDER BY u.id
