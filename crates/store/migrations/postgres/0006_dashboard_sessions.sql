-- Dashboard log-in sessions. Only a SHA-256 of each session id is kept; a
-- session lives no longer than its token (revoking the token ends it).
CREATE TABLE api_sessions (
    session_hash TEXT PRIMARY KEY,
    token_id     BIGINT NOT NULL REFERENCES api_tokens (id),
    created_at   TIMESTAMPTZ NOT NULL,
    expires_at   TIMESTAMPTZ NOT NULL
);
CREATE INDEX api_sessions_expires_at ON api_sessions (expires_at);
