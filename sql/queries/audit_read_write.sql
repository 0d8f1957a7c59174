-- An audit row's transaction writes, in a session that is read-only by default (the API's).
SET TRANSACTION READ WRITE
