-- The open: position, signal, counters and audit event in one statement, applied only if the
-- signal $2 is the caller's EXECUTING signal with an entry price AND the user's risk snapshot
-- for the risk day $5 is the one the rules judged ($6 open positions, $7 latest trade time,
-- $8 trades today, $9 realized PnL today). Returns the position and the snapshot after it.
-- With $11 (guarded) it also applies only if the per-trade checks pass on the database's values
-- — the same rule as `rules::risk::check_trade`, as a guard: $12 stop loss required, $13 the
-- profile's max risk per trade (%), $14 / $15 the symbol-quantity / exchange-notional caps (NULL:
-- off). Unguarded (after a locked read, when the rule itself judged), the checks are skipped.
WITH g AS (
    SELECT 1 FROM signals sg JOIN users u ON u.id = $1
    WHERE sg.id = $2
      AND CASE WHEN sg.stop_loss IS NULL THEN NOT $12
               ELSE sg.stop_loss <> sg.entry_price
                    AND abs(sg.entry_price - sg.stop_loss) * $3 <= u.capital_base_usd * $13 / 100 END
      AND ($14::numeric IS NULL OR $3 + (
            SELECT COALESCE(sum(p.qty), 0) FROM positions p
            WHERE p.user_id = $1 AND p.status = 'OPEN'
              AND upper(translate(p.symbol, '/-_ ', '')) = upper(translate(sg.symbol, '/-_ ', ''))) <= $14)
      AND ($15::numeric IS NULL OR $3 * sg.entry_price + (
            SELECT COALESCE(sum(p.qty * p.entry_price), 0) FROM positions p
            WHERE p.user_id = $1 AND p.status = 'OPEN' AND p.exchange = sg.exchange) <= $15)
), c AS (
    SELECT 1 FROM (SELECT 1) AS one
    LEFT JOIN trading_state t ON t.user_id = $1
    LEFT JOIN risk_daily d ON d.user_id = $1 AND d.day = $5
    WHERE COALESCE(t.open_positions, 0) = $6
      AND t.last_trade_at IS NOT DISTINCT FROM $7
      AND COALESCE(d.trades_count, 0) = $8
      AND COALESCE(d.realized_pnl, 0) = $9
), s AS (
    UPDATE signals SET status = 'OPENED', updated_at = now()
    WHERE id = $2 AND user_id = $1 AND status = 'EXECUTING' AND entry_price IS NOT NULL
      AND EXISTS (SELECT 1 FROM c) AND (NOT $11 OR EXISTS (SELECT 1 FROM g))
    RETURNING id, exchange, symbol, entry_price, stop_loss, take_profit
), p AS (
    INSERT INTO positions (id, user_id, signal_id, exchange, symbol, side, qty, entry_price, stop_loss, take_profit,
                           opened_at)
    SELECT $10, $1, s.id, s.exchange, s.symbol, 'LONG', $3, s.entry_price, s.stop_loss, s.take_profit, $4 FROM s
    RETURNING id, user_id, signal_id, exchange, symbol, side, qty, entry_price, stop_loss, take_profit, status,
              realized_pnl, fees, exit_price, exit_reason, opened_at, closed_at
), t AS (
    UPDATE trading_state SET open_positions = open_positions + 1, last_trade_at = $4
    WHERE user_id = $1 AND EXISTS (SELECT 1 FROM p)
    RETURNING open_positions, last_trade_at
), a AS (
    INSERT INTO audit_events (user_id, action, entity_type, entity_id, details)
    SELECT $1, 'position.open', 'position', p.id::text,
           jsonb_build_object('signal_id', p.signal_id, 'symbol', p.symbol, 'qty', p.qty,
                              'entry_price', p.entry_price)::text
    FROM p
)
SELECT p.*,
       COALESCE(t.open_positions, 0) AS state_open_positions, t.last_trade_at AS state_last_trade_at,
       COALESCE(d.trades_count, 0) AS state_trades_count, COALESCE(d.realized_pnl, 0) AS state_realized_pnl
FROM p
LEFT JOIN t ON true
LEFT JOIN risk_daily d ON d.user_id = $1 AND d.day = $5
