-- Sets profile $2's limits ($3 … $10) by $11 (email) / $1 (id), and audits `risk.profile.updated`
-- with the profile before and after. No row when there is no profile $2. The table's triggers
-- (V14) give the row a new version and announce it to every daemon.
WITH old AS (
    SELECT * FROM risk_profiles WHERE name = $2 FOR UPDATE
), changed AS (
    UPDATE risk_profiles p
    SET max_risk_per_trade_pct = $3, max_daily_loss_pct = $4, max_trades_per_day = $5,
        max_open_positions = $6, cooldown_between_trades_minutes = $7, max_leverage = $8,
        stop_loss_required = $9, min_rr = $10, updated_at = now(), updated_by = $11
    FROM old
    WHERE p.name = old.name
    RETURNING p.*
), audit AS (
    INSERT INTO audit_events (user_id, action, entity_type, entity_id, details)
    SELECT $1, 'risk.profile.updated', 'risk_profile', c.name,
           jsonb_build_object('profile_name', c.name,
                              'before', to_jsonb(o) - 'version',
                              'after', to_jsonb(c) - 'version')::text
    FROM changed c, old o
)
SELECT name, max_risk_per_trade_pct, max_daily_loss_pct, max_trades_per_day, max_open_positions,
       cooldown_between_trades_minutes, max_leverage, stop_loss_required, min_rr, updated_at,
       updated_by, version
FROM changed
