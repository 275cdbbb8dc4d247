-- Tell every daemon when a user row changes or disappears, so cached identities (role, 2FA)
-- are dropped at once, even when the change came from another process (CLI, SQL, a second daemon).
CREATE FUNCTION notify_user_changed() RETURNS trigger AS $$
BEGIN
    PERFORM pg_notify('user_changed', lower(OLD.email));
    IF TG_OP = 'UPDATE' AND lower(NEW.email) <> lower(OLD.email) THEN
        PERFORM pg_notify('user_changed', lower(NEW.email));
    END IF;
    RETURN NULL;
END
$$ LANGUAGE plpgsql;

CREATE TRIGGER users_changed AFTER UPDATE OR DELETE ON users
    FOR EACH ROW EXECUTE FUNCTION notify_user_changed();
