-- Every id on the wire is a UUID, as the old service's were (its rows keep their ids when
-- imported). Keys are UUIDs in the database too: no translation at the edge, and the importer
-- writes the old ids as they are. New ids are time-ordered (version 7: milliseconds since the
-- epoch, then random bits), so new rows land at the right edge of each index as BIGSERIAL keys
-- did; the daemon makes signal and position ids itself (monotonic within a process) and the
-- database makes the others with `uuid_v7()`. Rows are listed by their creation time, then id:
-- imported ids (version 4) carry no order of their own.
--
-- Existing rows keep their data: each gets a version-7 id from its own creation time, and every
-- reference follows it.

CREATE FUNCTION uuid_v7(at TIMESTAMPTZ DEFAULT clock_timestamp()) RETURNS uuid
    LANGUAGE sql VOLATILE PARALLEL SAFE AS $$
    -- A random (version 4) UUID whose first 48 bits become the Unix time in milliseconds and
    -- whose version nibble becomes 7 (bits 52 and 53 of byte 6 added to version 4's 0100).
    SELECT encode(
        set_bit(set_bit(
            overlay(uuid_send(gen_random_uuid())
                    PLACING substring(int8send((extract(epoch FROM at) * 1000)::bigint) FROM 3)
                    FROM 1 FOR 6),
            52, 1), 53, 1),
        'hex')::uuid
$$;

-- New keys beside the old ones, then every reference mapped through them.
ALTER TABLE users ADD COLUMN uid uuid;
UPDATE users SET uid = uuid_v7(created_at);
ALTER TABLE signals ADD COLUMN uid uuid, ADD COLUMN user_uid uuid;
UPDATE signals s SET uid = uuid_v7(s.created_at), user_uid = u.uid FROM users u WHERE u.id = s.user_id;
ALTER TABLE positions ADD COLUMN uid uuid, ADD COLUMN user_uid uuid, ADD COLUMN signal_uid uuid;
UPDATE positions p SET uid = uuid_v7(p.opened_at), user_uid = u.uid FROM users u WHERE u.id = p.user_id;
UPDATE positions p SET signal_uid = s.uid FROM signals s WHERE s.id = p.signal_id;
ALTER TABLE audit_events ADD COLUMN uid uuid, ADD COLUMN user_uid uuid;
UPDATE audit_events a SET uid = uuid_v7(a.created_at);
UPDATE audit_events a SET user_uid = u.uid FROM users u WHERE u.id = a.user_id;
-- Audit events name their entity by id: follow signals, positions and users to their new ids.
UPDATE audit_events a SET entity_id = s.uid::text
    FROM signals s WHERE a.entity_type = 'signal' AND a.entity_id = s.id::text;
UPDATE audit_events a SET entity_id = p.uid::text
    FROM positions p WHERE a.entity_type = 'position' AND a.entity_id = p.id::text;
UPDATE audit_events a SET entity_id = u.uid::text
    FROM users u WHERE a.entity_type = 'user' AND a.entity_id = u.id::text;

ALTER TABLE trading_state ADD COLUMN user_uid uuid;
UPDATE trading_state t SET user_uid = u.uid FROM users u WHERE u.id = t.user_id;
ALTER TABLE risk_daily ADD COLUMN user_uid uuid;
UPDATE risk_daily r SET user_uid = u.uid FROM users u WHERE u.id = r.user_id;
ALTER TABLE exchange_secrets ADD COLUMN user_uid uuid;
UPDATE exchange_secrets e SET user_uid = u.uid FROM users u WHERE u.id = e.user_id;
-- A stored secret is sealed with its owner's id in the associated data; rows sealed under the
-- integer id keep naming it there until they are saved or re-encrypted again.
ALTER TABLE exchange_secrets ADD COLUMN sealed_for text;
UPDATE exchange_secrets SET sealed_for = user_id::text;
ALTER TABLE strategy_assignments ADD COLUMN user_uid uuid, ADD COLUMN updated_by_uid uuid;
UPDATE strategy_assignments a SET user_uid = u.uid FROM users u WHERE u.id = a.user_id;
UPDATE strategy_assignments a SET updated_by_uid = u.uid FROM users u WHERE u.id = a.updated_by;
ALTER TABLE exit_alerts ADD COLUMN position_uid uuid;
UPDATE exit_alerts e SET position_uid = p.uid FROM positions p WHERE p.id = e.position_id;

-- The old columns go (with the keys, foreign keys and indexes built on them). The roll-up's
-- update trigger names `user_id` among its columns: it comes back below.
DROP TRIGGER audit_daily_update ON audit_events;
ALTER TABLE trading_state DROP COLUMN user_id;
ALTER TABLE risk_daily DROP COLUMN user_id;
ALTER TABLE exchange_secrets DROP COLUMN user_id;
ALTER TABLE strategy_assignments DROP COLUMN user_id, DROP COLUMN updated_by;
ALTER TABLE exit_alerts DROP COLUMN position_id;
ALTER TABLE positions DROP COLUMN id, DROP COLUMN user_id, DROP COLUMN signal_id;
ALTER TABLE signals DROP COLUMN id, DROP COLUMN user_id;
ALTER TABLE audit_events DROP COLUMN id, DROP COLUMN user_id;
ALTER TABLE users DROP COLUMN id;

ALTER TABLE users RENAME COLUMN uid TO id;
ALTER TABLE users ALTER COLUMN id SET NOT NULL, ALTER COLUMN id SET DEFAULT uuid_v7(), ADD PRIMARY KEY (id);

ALTER TABLE signals RENAME COLUMN uid TO id;
ALTER TABLE signals RENAME COLUMN user_uid TO user_id;
ALTER TABLE signals ALTER COLUMN id SET NOT NULL, ALTER COLUMN id SET DEFAULT uuid_v7(), ADD PRIMARY KEY (id),
    ALTER COLUMN user_id SET NOT NULL,
    ADD FOREIGN KEY (user_id) REFERENCES users (id) ON DELETE CASCADE;
CREATE INDEX signals_user_listed ON signals (user_id, created_at, id);
CREATE INDEX signals_user_created ON signals (user_id, created_at, id) WHERE status = 'CREATED';

ALTER TABLE positions RENAME COLUMN uid TO id;
ALTER TABLE positions RENAME COLUMN user_uid TO user_id;
ALTER TABLE positions RENAME COLUMN signal_uid TO signal_id;
ALTER TABLE positions ALTER COLUMN id SET NOT NULL, ALTER COLUMN id SET DEFAULT uuid_v7(), ADD PRIMARY KEY (id),
    ALTER COLUMN user_id SET NOT NULL,
    ADD FOREIGN KEY (user_id) REFERENCES users (id) ON DELETE CASCADE,
    ADD FOREIGN KEY (signal_id) REFERENCES signals (id) ON DELETE SET NULL;
CREATE INDEX positions_user_listed ON positions (user_id, opened_at, id);
CREATE INDEX positions_open ON positions (user_id) WHERE status = 'OPEN';
CREATE INDEX positions_signal ON positions (signal_id);
CREATE INDEX positions_closed_at ON positions (closed_at, user_id) WHERE closed_at IS NOT NULL;

-- No foreign key to users: an event may name a user that is gone.
ALTER TABLE audit_events RENAME COLUMN uid TO id;
ALTER TABLE audit_events RENAME COLUMN user_uid TO user_id;
ALTER TABLE audit_events ALTER COLUMN id SET NOT NULL, ALTER COLUMN id SET DEFAULT uuid_v7(), ADD PRIMARY KEY (id),
    -- The instant the event was written, not its transaction's start: events of one group
    -- commit keep the order they were written in.
    ALTER COLUMN created_at SET DEFAULT clock_timestamp();
CREATE INDEX audit_events_user ON audit_events (user_id, created_at, id);
CREATE INDEX audit_events_listed ON audit_events (created_at, id);
DROP INDEX IF EXISTS audit_events_created;
-- The partial indexes of V4 lost their user column with it.
DROP INDEX IF EXISTS audit_events_errors;
CREATE INDEX audit_events_errors ON audit_events (created_at, user_id)
    WHERE (action LIKE '%.error' OR action LIKE 'execution.blocked.%');

ALTER TABLE trading_state RENAME COLUMN user_uid TO user_id;
ALTER TABLE trading_state ALTER COLUMN user_id SET NOT NULL, ADD PRIMARY KEY (user_id),
    ADD FOREIGN KEY (user_id) REFERENCES users (id) ON DELETE CASCADE;

ALTER TABLE risk_daily RENAME COLUMN user_uid TO user_id;
ALTER TABLE risk_daily ALTER COLUMN user_id SET NOT NULL, ADD PRIMARY KEY (user_id, day),
    ADD FOREIGN KEY (user_id) REFERENCES users (id) ON DELETE CASCADE;

ALTER TABLE exchange_secrets RENAME COLUMN user_uid TO user_id;
ALTER TABLE exchange_secrets ALTER COLUMN user_id SET NOT NULL, ADD PRIMARY KEY (user_id, exchange),
    ADD FOREIGN KEY (user_id) REFERENCES users (id) ON DELETE CASCADE;

ALTER TABLE strategy_assignments RENAME COLUMN user_uid TO user_id;
ALTER TABLE strategy_assignments RENAME COLUMN updated_by_uid TO updated_by;
ALTER TABLE strategy_assignments ALTER COLUMN user_id SET NOT NULL, ADD PRIMARY KEY (user_id, exchange),
    ADD FOREIGN KEY (user_id) REFERENCES users (id) ON DELETE CASCADE;

ALTER TABLE exit_alerts RENAME COLUMN position_uid TO position_id;
ALTER TABLE exit_alerts ALTER COLUMN position_id SET NOT NULL, ADD PRIMARY KEY (position_id, reason),
    ADD FOREIGN KEY (position_id) REFERENCES positions (id) ON DELETE CASCADE;

-- The dashboard's roll-up of the audit trail, keyed by the new user ids (rebuilt below).
TRUNCATE audit_daily;
ALTER TABLE audit_daily ALTER COLUMN user_id TYPE uuid USING NULL;

DROP FUNCTION audit_daily_add(BIGINT, TEXT, TIMESTAMPTZ, INTEGER) CASCADE;
CREATE FUNCTION audit_daily_add(event_user uuid, event_action TEXT, event_at TIMESTAMPTZ, delta INTEGER)
RETURNS void AS $$
DECLARE
    blocked INTEGER := CASE WHEN audit_is_blocked_open(event_action) THEN delta ELSE 0 END;
    error   INTEGER := CASE WHEN audit_is_error(event_action) THEN delta ELSE 0 END;
BEGIN
    IF event_user IS NULL OR (blocked = 0 AND error = 0) THEN
        RETURN;
    END IF;
    INSERT INTO audit_daily (user_id, day, blocked_opens, errors)
    SELECT event_user, (event_at AT TIME ZONE z.zone)::date, blocked, error FROM audit_daily_zone z
    ON CONFLICT (user_id, day) DO UPDATE
        SET blocked_opens = audit_daily.blocked_opens + EXCLUDED.blocked_opens,
            errors = audit_daily.errors + EXCLUDED.errors;
END
$$ LANGUAGE plpgsql;

CREATE TRIGGER audit_daily_update AFTER UPDATE OF user_id, action, created_at ON audit_events FOR EACH ROW
    EXECUTE FUNCTION audit_daily_count();

-- The roll-up again, from the converted trail.
SELECT audit_daily_rebuild(zone) FROM audit_daily_zone;
