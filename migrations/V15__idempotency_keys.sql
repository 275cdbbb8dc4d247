-- Idempotent retries (API.md, "Trading controls"): one row per caller, route and key. The routes
-- that write through a persistence shard insert the row and its answer in the change's own
-- transaction, so a change and its recorded answer commit together or not at all; a duplicate
-- running meanwhile (on any daemon) waits on the row's unique index for that commit. The other
-- routes claim the row first (`answer_status` NULL while the first request runs) and fill it in
-- when they answer. Rows older than IDEMPOTENCY_KEY_MAX_AGE_DAYS are removed in bounded rounds.
CREATE TABLE idempotency_keys (
    user_id uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    route text NOT NULL,
    key text NOT NULL CONSTRAINT idempotency_keys_key_length CHECK (length(key) BETWEEN 1 AND 128),
    request_hash bytea NOT NULL,
    answer_status smallint,
    answer_body bytea,
    claimed_at timestamptz NOT NULL DEFAULT now(),
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (user_id, route, key)
);

CREATE INDEX idempotency_keys_created_at ON idempotency_keys (created_at);
