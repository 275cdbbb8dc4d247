-- Failed logins, shared by every daemon on the database (API.md, "Accounts and sessions"): one row
-- per throttled key (`account:<email>` or `address:<ip>`) with its most recent failures, at most 50
-- and none older than the window. One upsert per failure; a success deletes its account's row.
CREATE TABLE login_failures (
    key text PRIMARY KEY,
    failures timestamptz[] NOT NULL,
    last_failure_at timestamptz NOT NULL
);

CREATE INDEX login_failures_last_failure_at ON login_failures (last_failure_at);
