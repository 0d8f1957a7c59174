-- 0013: which OAuth client a google_health grant belongs to.
-- A refresh token works only with the client it was issued to: 'installed' (hr users connect, the
-- Desktop app client) or 'web' (an enrolment link, the Web application client).
ALTER TABLE google_health_tokens
    ADD COLUMN oauth_client text NOT NULL DEFAULT 'installed' CHECK (oauth_client IN ('installed', 'web'));
