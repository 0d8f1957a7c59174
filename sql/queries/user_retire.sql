UPDATE users SET retired_at = coalesce(retired_at, now()), updated_at = now()
WHERE id = %(id)s
RETURNING id
