-- What the operator sees of each google_health participant's enrolment.
SELECT u.id AS user_id,
       u.retired_at,
       w.withdrawn_at,
       w.data AS withdrawal_data,
       t.connected_at,
       t.grant_refused_at AS refused_at,
       t.oauth_client,
       i.expires_at AS invitation_expires_at,
       i.used_at AS invitation_used_at
FROM users AS u
LEFT JOIN google_health_tokens AS t ON t.user_id = u.id
LEFT JOIN enrolment_invitations AS i ON i.user_id = u.id
LEFT JOIN enrolment_withdrawals AS w ON w.user_id = u.id
WHERE u.source = 'google_health' AND u.id = ANY(%(user_ids)s)
