"""Domain code that touches neither the database nor Dagster: what the pipeline means, as plain functions."""
