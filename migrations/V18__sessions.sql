-- Login sessions (API.md, "Accounts and sessions"): one row per login. Its access and refresh
-- tokens carry its id (`sid`); `refresh_id` is the jti of the one refresh token that may be used
-- next, so a signed refresh token of this session with another jti was used already (reuse:
-- the session is revoked). A revoked row stays until its last access token has expired.
CREATE TABLE sessions (
    id uuid PRIMARY KEY,
    user_id uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    -- NULL for the row that revokes one old-service token (it has no refresh token).
    refresh_id uuid,
    created_at timestamptz NOT NULL DEFAULT now(),
    refreshed_at timestamptz NOT NULL DEFAULT now(),
    expires_at timestamptz NOT NULL,
    revoked_at timestamptz,
    revoked_reason text
);

CREATE INDEX sessions_live_by_user ON sessions (user_id) WHERE revoked_at IS NULL;
CREATE INDEX sessions_revoked_at ON sessions (revoked_at) WHERE revoked_at IS NOT NULL;
CREATE INDEX sessions_expires_at ON sessions (expires_at);

-- Tokens without a session (the old service's) issued before this instant are refused: revoke-all
-- and the admin's revocations reach them through the identity every request reads anyway.
ALTER TABLE users ADD COLUMN sessionless_tokens_revoked_at timestamptz;

-- Every daemon learns of each revocation at once, whoever made it (a daemon, the CLI, SQL).
CREATE FUNCTION notify_session_revoked() RETURNS trigger AS $$
BEGIN
    PERFORM pg_notify('session_revoked', NEW.id::text);
    RETURN NULL;
END
$$ LANGUAGE plpgsql;

CREATE TRIGGER sessions_revoked AFTER INSERT OR UPDATE OF revoked_at ON sessions
    FOR EACH ROW WHEN (NEW.revoked_at IS NOT NULL) EXECUTE FUNCTION notify_session_revoked();
