-- A new signal and its audit event, in one statement.
WITH s AS (
    INSERT INTO signals (id, user_id, exchange, symbol, module, base_risk_percent, entry_price, stop_loss, take_profit)
    VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
    RETURNING id, user_id, exchange, symbol, module, base_risk_percent, entry_price, stop_loss, take_profit,
              status, reason_codes, created_at
), a AS (
    INSERT INTO audit_events (user_id, action, entity_type, entity_id, details)
    SELECT s.user_id, 'signal.create', 'signal', s.id::text,
           jsonb_build_object('symbol', s.symbol, 'module', s.module)::text
    FROM s
)
SELECT * FROM s
