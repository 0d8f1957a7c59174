"""The users registry (table ``users``, kept with ``hr users``): an asset Dagster observes, not one it makes."""

import dagster as dg

USER_REGISTRY = "user_registry"

user_registry = dg.AssetSpec(
    USER_REGISTRY,
    group_name="users",
    kinds={"postgres"},
    description="The registry of users whose heart rate is loaded (table users; `hr users add | import | "
    "retire`). The users sensor keeps the heart-rate assets' user partitions equal to its active users. "
    "Its check latest_day_loaded says whether every active user's latest complete day has landed.",
)
