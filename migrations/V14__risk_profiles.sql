-- Risk profiles in the database (API.md, "Trading controls"): the named sets of limits, seeded
-- with the two the daemon had built in (same numbers, same scales), and a per-user override.
-- Every daemon holds both in memory and hears each change on `risk_profiles_changed`; one
-- sequence versions every change of either, so a notification and a reload racing each other
-- cannot leave a daemon with the older one. The CHECKs mirror the contract's ranges (the daemon
-- refuses them with a 422 before a statement runs; these hold for SQL written by hand too).
CREATE SEQUENCE risk_profile_version;

CREATE TABLE risk_profiles (
    name                            text PRIMARY KEY CHECK (name ~ '^[a-z0-9_]{1,64}$'),
    max_risk_per_trade_pct          numeric NOT NULL
        CHECK (max_risk_per_trade_pct > 0 AND max_risk_per_trade_pct <= 5),
    max_daily_loss_pct              numeric NOT NULL CHECK (max_daily_loss_pct > 0 AND max_daily_loss_pct <= 20),
    max_trades_per_day              integer NOT NULL CHECK (max_trades_per_day BETWEEN 1 AND 100),
    max_open_positions              integer NOT NULL CHECK (max_open_positions BETWEEN 1 AND 50),
    cooldown_between_trades_minutes integer NOT NULL CHECK (cooldown_between_trades_minutes BETWEEN 0 AND 1440),
    max_leverage                    numeric NOT NULL CHECK (max_leverage >= 1 AND max_leverage <= 10),
    stop_loss_required              boolean NOT NULL,
    min_rr                          numeric NOT NULL CHECK (min_rr >= 0.5 AND min_rr <= 10),
    updated_at                      timestamptz NOT NULL DEFAULT now(),
    updated_by                      text,
    version                         bigint NOT NULL DEFAULT nextval('risk_profile_version')
);

INSERT INTO risk_profiles (name, max_risk_per_trade_pct, max_daily_loss_pct, max_trades_per_day,
                           max_open_positions, cooldown_between_trades_minutes, max_leverage,
                           stop_loss_required, min_rr)
VALUES ('model2_conservador_productivo', 0.50, 1.50, 3, 2, 30, 1.0, true, 1.5),
       ('modelo_suelto_controlado',      0.75, 2.00, 4, 2, 20, 1.0, true, 1.3);

-- The per-user override (NULL: the email settings, then the default, decide) and the version of
-- its last change (0: never set).
ALTER TABLE users
    ADD COLUMN risk_profile_override text REFERENCES risk_profiles (name),
    ADD COLUMN risk_profile_version  bigint NOT NULL DEFAULT 0;

-- Every change gets a new version, whoever makes it (the daemon, the CLI, SQL by hand).
CREATE FUNCTION version_risk_profile() RETURNS trigger AS $$
BEGIN
    NEW.version := nextval('risk_profile_version');
    RETURN NEW;
END
$$ LANGUAGE plpgsql;

CREATE TRIGGER risk_profiles_versioned BEFORE UPDATE ON risk_profiles
    FOR EACH ROW EXECUTE FUNCTION version_risk_profile();

CREATE FUNCTION version_risk_profile_override() RETURNS trigger AS $$
BEGIN
    IF (TG_OP = 'INSERT' AND NEW.risk_profile_override IS NOT NULL)
       OR (TG_OP = 'UPDATE' AND NEW.risk_profile_override IS DISTINCT FROM OLD.risk_profile_override) THEN
        NEW.risk_profile_version := nextval('risk_profile_version');
    END IF;
    RETURN NEW;
END
$$ LANGUAGE plpgsql;

CREATE TRIGGER users_risk_profile_versioned BEFORE INSERT OR UPDATE OF risk_profile_override ON users
    FOR EACH ROW EXECUTE FUNCTION version_risk_profile_override();

-- Payloads are JSON: a profile with all its numbers (as text, exact), or a user's override.
CREATE FUNCTION notify_risk_profile_changed() RETURNS trigger AS $$
BEGIN
    PERFORM pg_notify('risk_profiles_changed', json_build_object(
        'kind', 'profile',
        'profile_name', NEW.name,
        'max_risk_per_trade_pct', NEW.max_risk_per_trade_pct::text,
        'max_daily_loss_pct', NEW.max_daily_loss_pct::text,
        'max_trades_per_day', NEW.max_trades_per_day,
        'max_open_positions', NEW.max_open_positions,
        'cooldown_between_trades_minutes', NEW.cooldown_between_trades_minutes,
        'max_leverage', NEW.max_leverage::text,
        'stop_loss_required', NEW.stop_loss_required,
        'min_rr', NEW.min_rr::text,
        'version', NEW.version)::text);
    RETURN NULL;
END
$$ LANGUAGE plpgsql;

CREATE TRIGGER risk_profiles_changed AFTER INSERT OR UPDATE ON risk_profiles
    FOR EACH ROW EXECUTE FUNCTION notify_risk_profile_changed();

CREATE FUNCTION notify_risk_profile_override_changed() RETURNS trigger AS $$
BEGIN
    IF TG_OP = 'INSERT' AND NEW.risk_profile_override IS NULL THEN
        RETURN NULL;
    END IF;
    IF TG_OP = 'UPDATE' AND NEW.risk_profile_version = OLD.risk_profile_version THEN
        RETURN NULL;
    END IF;
    PERFORM pg_notify('risk_profiles_changed', json_build_object(
        'kind', 'override',
        'user_id', NEW.id,
        'profile_name', NEW.risk_profile_override,
        'version', NEW.risk_profile_version)::text);
    RETURN NULL;
END
$$ LANGUAGE plpgsql;

CREATE TRIGGER users_risk_profile_changed AFTER INSERT OR UPDATE OF risk_profile_override ON users
    FOR EACH ROW EXECUTE FUNCTION notify_risk_profile_override_changed();
