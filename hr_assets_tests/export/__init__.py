"""The analysis-ready export: files read back with DuckDB and polars, de-identification, increments, S3, the asset."""
