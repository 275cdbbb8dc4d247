-- The close: PnL, the signal's completion, the day's counters and the audit event in one
-- statement, applied only to the caller's ($7) still-open position $1 with entry price $8 and
-- quantity $9. Returns the position and the user's risk snapshot for the risk day $10 after it.
WITH p AS (
    UPDATE positions
    SET status = 'CLOSED', realized_pnl = $2, fees = $3, exit_price = $4, exit_reason = $5, closed_at = $6
    WHERE id = $1 AND user_id = $7 AND status = 'OPEN' AND entry_price = $8 AND qty = $9
    RETURNING id, user_id, signal_id, exchange, symbol, side, qty, entry_price, stop_loss, take_profit, status,
              realized_pnl, fees, exit_price, exit_reason, opened_at, closed_at
), s AS (
    UPDATE signals SET status = 'COMPLETED', updated_at = now() WHERE id = (SELECT signal_id FROM p)
), d AS (
    INSERT INTO risk_daily (user_id, day, trades_count, realized_pnl) SELECT $7, $10::date, 1, $2 FROM p
    ON CONFLICT (user_id, day) DO UPDATE
        SET trades_count = risk_daily.trades_count + 1,
            realized_pnl = risk_daily.realized_pnl + EXCLUDED.realized_pnl
    RETURNING trades_count, realized_pnl
), t AS (
    UPDATE trading_state SET open_positions = GREATEST(open_positions - 1, 0), last_trade_at = $6
    WHERE user_id = $7 AND EXISTS (SELECT 1 FROM p)
    RETURNING open_positions, last_trade_at
), a AS (
    INSERT INTO audit_events (user_id, action, entity_type, entity_id, details)
    SELECT $7, 'position.close', 'position', p.id::text, $11::jsonb::text FROM p
)
SELECT p.*,
       COALESCE(t.open_positions, 0) AS state_open_positions, t.last_trade_at AS state_last_trade_at,
       COALESCE(d.trades_count, 0) AS state_trades_count, COALESCE(d.realized_pnl, 0) AS state_realized_pnl
FROM p
LEFT JOIN t ON true
LEFT JOIN d ON true
