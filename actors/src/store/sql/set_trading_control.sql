-- Sets one switch ($1: the user, NULL for everyone) to $2 with reason $3, by $4 (email) / $5
-- (id), and audits `trading.control.updated`. No row when the user $1 does not exist.
WITH target AS (
    SELECT $1::uuid AS user_id
    WHERE $1::uuid IS NULL OR EXISTS (SELECT 1 FROM users WHERE id = $1::uuid)
), previous AS (
    SELECT state FROM trading_control WHERE user_id IS NOT DISTINCT FROM $1::uuid
), changed AS (
    INSERT INTO trading_control (user_id, state, reason, updated_by)
    SELECT user_id, $2, $3, $4 FROM target
    ON CONFLICT (user_id) DO UPDATE
        SET state = EXCLUDED.state, reason = EXCLUDED.reason, updated_by = EXCLUDED.updated_by,
            updated_at = now(), version = nextval('trading_control_version')
    RETURNING user_id, state, reason, updated_by, updated_at, version
), audit AS (
    INSERT INTO audit_events (user_id, action, entity_type, entity_id, details)
    SELECT $5, 'trading.control.updated', 'trading_control', COALESCE(c.user_id::text, 'global'),
           jsonb_build_object('scope', CASE WHEN c.user_id IS NULL THEN 'global' ELSE 'user' END,
                              'user_id', c.user_id, 'state', c.state,
                              'previous_state', COALESCE((SELECT state FROM previous), 'ACTIVE'),
                              'trading_enabled', c.state = 'ACTIVE', 'reason', c.reason)::text
    FROM changed c
)
SELECT c.*, COALESCE((SELECT state FROM previous), 'ACTIVE') AS previous_state FROM changed c
