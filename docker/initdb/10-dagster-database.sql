-- Dagster's run/event storage lives in its own database on the same server as the warehouse.
CREATE DATABASE dagster;
