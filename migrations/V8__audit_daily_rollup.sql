-- Per user and risk day, the audit events the dashboard counts: blocked position opens
-- (`position.open.blocked.*`) and errors (`*.error`, `execution.blocked.*`). The audit trail stays
-- the truth; triggers keep this roll-up equal to it whoever writes (daemon, CLI, plain SQL), for
-- inserts, updates, deletes and truncation. Reading a week of counts then touches one row per user
-- and day instead of every event of the week: the 7-day trend at 10,000 users with 140,000 errors
-- and 140,000 blocked opens in the week went from ~420 ms to ~110 ms of Postgres time
-- (docs/performance.md).
--
-- The risk day is the calendar date in the daemon's risk zone (`RISK_TIMEZONE`). The zone the
-- roll-up was built with is kept here; a daemon started with another zone rebuilds the roll-up
-- from the audit trail before serving (actors/src/store/dashboard.rs `align_audit_daily_zone`).
CREATE TABLE audit_daily_zone (
    only_row BOOLEAN PRIMARY KEY DEFAULT true CHECK (only_row),
    zone     TEXT    NOT NULL
);
INSERT INTO audit_daily_zone (zone) VALUES ('America/Bogota');

-- No foreign key to users: an audit event may name a user that is gone, and counting it must
-- never make the audited action fail. Readers join the users they show.
CREATE TABLE audit_daily (
    user_id       BIGINT  NOT NULL,
    day           DATE    NOT NULL,
    blocked_opens INTEGER NOT NULL DEFAULT 0,
    errors        INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (user_id, day)
);
CREATE INDEX audit_daily_day ON audit_daily (day);

-- The two kinds of counted events, as the contract names them (the same tests as
-- actors/src/store/dashboard.rs `ERROR_PREDICATE`, which the last-hours error count uses).
CREATE FUNCTION audit_is_blocked_open(action TEXT) RETURNS BOOLEAN
    LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$ SELECT action LIKE 'position.open.blocked.%' $$;
CREATE FUNCTION audit_is_error(action TEXT) RETURNS BOOLEAN
    LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$ SELECT action LIKE '%.error' OR action LIKE 'execution.blocked.%' $$;

-- Adds `delta` (1 or -1) for one event to its user's risk day, if the event is counted.
CREATE FUNCTION audit_daily_add(event_user BIGINT, event_action TEXT, event_at TIMESTAMPTZ, delta INTEGER)
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

CREATE FUNCTION audit_daily_count() RETURNS trigger AS $$
BEGIN
    IF TG_OP IN ('UPDATE', 'DELETE') THEN
        PERFORM audit_daily_add(OLD.user_id, OLD.action, OLD.created_at, -1);
    END IF;
    IF TG_OP IN ('INSERT', 'UPDATE') THEN
        PERFORM audit_daily_add(NEW.user_id, NEW.action, NEW.created_at, 1);
    END IF;
    RETURN NULL;
END
$$ LANGUAGE plpgsql;

CREATE FUNCTION audit_daily_clear() RETURNS trigger AS $$
BEGIN
    TRUNCATE audit_daily;
    RETURN NULL;
END
$$ LANGUAGE plpgsql;

-- Rebuilds the roll-up from the audit trail in `zone`, writers held off meanwhile.
CREATE FUNCTION audit_daily_rebuild(zone TEXT) RETURNS void AS $$
BEGIN
    LOCK TABLE audit_events IN SHARE MODE;
    UPDATE audit_daily_zone SET zone = audit_daily_rebuild.zone;
    DELETE FROM audit_daily;
    INSERT INTO audit_daily (user_id, day, blocked_opens, errors)
    SELECT a.user_id, (a.created_at AT TIME ZONE audit_daily_rebuild.zone)::date,
           count(*) FILTER (WHERE audit_is_blocked_open(a.action)),
           count(*) FILTER (WHERE audit_is_error(a.action))
    FROM audit_events a
    WHERE a.user_id IS NOT NULL AND (audit_is_blocked_open(a.action) OR audit_is_error(a.action))
    GROUP BY 1, 2;
END
$$ LANGUAGE plpgsql;

-- The WHEN clauses keep every other audit action (the hot path) from running the trigger at all.
-- They are a superset test (audit_daily_add decides exactly), written as ONE regular expression:
-- Postgres re-reads a trigger's WHEN expression for every statement, and the cost grows with its
-- size — per single-row insert, the two functions above cost ~21 µs, three LIKEs ~11 µs, this ~5 µs
-- (docs/performance.md).
CREATE TRIGGER audit_daily_insert AFTER INSERT ON audit_events FOR EACH ROW
    WHEN (NEW.action ~ '^(position\.open\.blocked\.|execution\.blocked\.)|\.error$')
    EXECUTE FUNCTION audit_daily_count();
CREATE TRIGGER audit_daily_delete AFTER DELETE ON audit_events FOR EACH ROW
    WHEN (OLD.action ~ '^(position\.open\.blocked\.|execution\.blocked\.)|\.error$')
    EXECUTE FUNCTION audit_daily_count();
CREATE TRIGGER audit_daily_update AFTER UPDATE OF user_id, action, created_at ON audit_events FOR EACH ROW
    EXECUTE FUNCTION audit_daily_count();
CREATE TRIGGER audit_daily_truncate AFTER TRUNCATE ON audit_events FOR EACH STATEMENT
    EXECUTE FUNCTION audit_daily_clear();

-- The events already recorded, in the default zone.
SELECT audit_daily_rebuild('America/Bogota');

-- Blocked opens are no longer read from the audit trail itself.
DROP INDEX audit_events_open_blocked;
