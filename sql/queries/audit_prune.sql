-- Forget audit rows older than the retention (HR_AUDIT_RETENTION_DAYS).
DELETE FROM api_audit_log WHERE at < now() - make_interval(days => %(days)s)
