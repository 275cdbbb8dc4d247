-- The caller's oldest CREATED signals, at most $2, become EXECUTING; the audit event counts them.
-- SKIP LOCKED and the status condition give each signal to exactly one claimer, across
-- transactions and daemons.
WITH picked AS (
    SELECT id FROM signals
    WHERE user_id = $1 AND status = 'CREATED'
    ORDER BY created_at, id
    LIMIT $2
    FOR UPDATE SKIP LOCKED
), claimed AS (
    UPDATE signals s SET status = 'EXECUTING', updated_at = now()
    FROM picked WHERE s.id = picked.id
    RETURNING s.id, s.user_id, s.exchange, s.symbol, s.module, s.base_risk_percent, s.entry_price, s.stop_loss,
              s.take_profit, s.status, s.reason_codes, s.created_at
), a AS (
    INSERT INTO audit_events (user_id, action, entity_type, entity_id, details)
    SELECT $1, 'signal.claim', 'signal', 'batch',
           jsonb_build_object('claimed_count', (SELECT count(*) FROM claimed), 'limit', $2::bigint)::text
)
SELECT * FROM claimed ORDER BY created_at, id
