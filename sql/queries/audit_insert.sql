-- One API request for participant data: who (key), what (route, participants, range), how it ended.
INSERT INTO api_audit_log (key_id, route, participants, range_start, range_end, status)
VALUES (%(key_id)s, %(route)s, %(participants)s, %(range_start)s, %(range_end)s, %(status)s)
