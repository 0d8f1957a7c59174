-- The newest migration applied and the warehouse's mode (a cheap check that the schema is current).
SELECT max(version), min(mode) FROM schema_migrations
