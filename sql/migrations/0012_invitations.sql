-- 0012: remote enrolment: one-time invitation links, the consents they start, and participants' withdrawal links.
-- Every secret is stored as its SHA-256 only: the database (or a dump of it) gives no usable link.

-- A participant's current invitation; a new one replaces it (a participant has at most one).
CREATE TABLE enrolment_invitations (
    user_id     text        PRIMARY KEY REFERENCES users (id),
    token_hash  bytea       NOT NULL UNIQUE,
    created_at  timestamptz NOT NULL DEFAULT now(),
    expires_at  timestamptz NOT NULL,
    -- Set when the participant finished consenting: the link works once.
    used_at     timestamptz
);

-- A consent started from an invitation's page, from the button until Google's redirect comes back.
-- The state in the redirect finds it; it holds the PKCE verifier (encrypted with the operator's key).
CREATE TABLE enrolment_consents (
    state_hash               bytea       PRIMARY KEY,
    user_id                  text        NOT NULL REFERENCES enrolment_invitations (user_id) ON DELETE CASCADE,
    -- The invitation it was started from: a consent of a replaced invitation is void.
    token_hash               bytea       NOT NULL,
    code_verifier_encrypted  bytea       NOT NULL,
    expires_at               timestamptz NOT NULL
);
CREATE INDEX enrolment_consents_user_idx ON enrolment_consents (user_id);

-- The withdrawal link of each participant who enrolled through an invitation, and whether they withdrew.
CREATE TABLE enrolment_withdrawals (
    user_id       text        PRIMARY KEY REFERENCES users (id),
    secret_hash   bytea       NOT NULL UNIQUE,
    enrolled_at   timestamptz NOT NULL DEFAULT now(),
    withdrawn_at  timestamptz,
    -- HR_WITHDRAWAL_DATA when they withdrew: 'keep' or 'delete'.
    data          text        CHECK (data IN ('keep', 'delete'))
);
