"""The domain, as plain functions that touch neither the database directly nor Dagster: parsing payloads,
checking them, planning which days load, ingesting them, rosters, the study's rules, exports."""
