"""Running hr-pipeline on one machine: the embedded server, the Dagster instance, processes, the network."""
