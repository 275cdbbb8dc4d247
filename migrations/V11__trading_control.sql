-- The kill switch: one row for the whole desk (user_id NULL) and one per user an operator has
-- switched; no row means ACTIVE. Every daemon holds these in memory and hears each change on the
-- `trading_control_changed` channel; `version` orders the changes, so a notification and a
-- reload racing each other cannot leave a daemon with the older state.
CREATE SEQUENCE trading_control_version;

CREATE TABLE trading_control (
    user_id    uuid REFERENCES users(id) ON DELETE CASCADE,
    state      text NOT NULL CHECK (state IN ('ACTIVE', 'REDUCING', 'HALTED')),
    reason     text,
    updated_by text,
    updated_at timestamptz NOT NULL DEFAULT now(),
    version    bigint NOT NULL DEFAULT nextval('trading_control_version'),
    CONSTRAINT trading_control_one_per_scope UNIQUE NULLS NOT DISTINCT (user_id)
);

-- Payload: `<user id or *> <state> <version>`.
CREATE FUNCTION notify_trading_control_changed() RETURNS trigger AS $$
BEGIN
    PERFORM pg_notify('trading_control_changed',
                      COALESCE(NEW.user_id::text, '*') || ' ' || NEW.state || ' ' || NEW.version);
    RETURN NULL;
END
$$ LANGUAGE plpgsql;

CREATE TRIGGER trading_control_changed AFTER INSERT OR UPDATE ON trading_control
    FOR EACH ROW EXECUTE FUNCTION notify_trading_control_changed();
