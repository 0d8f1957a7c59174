"""The heart-rate assets' partitions: one per user and local calendar day (``UserDay``)."""

from __future__ import annotations

import dagster as dg

from hr_assets.partition_space import partitions_start
from hr_assets.settings import get_settings

USERS_PARTITION_NAME = "users"

users_partitions = dg.DynamicPartitionsDefinition(name=USERS_PARTITION_NAME)
# end_offset=1: the current UTC day is a partition too, because users east of UTC finish their
# local day before UTC does. Which day each user gets is the schedule's decision.
# From where the study's data can start (hr_assets/partition_space.py), not from a fixed year.
daily_partitions = dg.DailyPartitionsDefinition(start_date=partitions_start(get_settings()).isoformat(), end_offset=1)
user_day_partitions = dg.MultiPartitionsDefinition({"date": daily_partitions, "user": users_partitions})
