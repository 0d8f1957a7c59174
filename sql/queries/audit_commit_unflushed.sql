-- The audit row's commit does not wait for the WAL to reach the disk (the API's answer waits on it): a crash of the
-- database server may lose the rows of the last moments (at most 3 x wal_writer_delay, 600 ms by default).
SET LOCAL synchronous_commit = off
