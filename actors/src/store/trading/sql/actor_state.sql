-- What a user actor loads when it starts: one row per open position (or one row without a
-- position), each with the email, the strategy assignments (two arrays in the same order) and
-- the risk snapshot for the risk day $2. No row: no such user.
SELECT u.email,
       ARRAY(SELECT a.exchange FROM strategy_assignments a WHERE a.user_id = u.id ORDER BY a.exchange)
           AS strategy_exchanges,
       ARRAY(SELECT a.strategy_id FROM strategy_assignments a WHERE a.user_id = u.id ORDER BY a.exchange)
           AS strategy_ids,
       COALESCE(t.open_positions, 0) AS state_open_positions, t.last_trade_at AS state_last_trade_at,
       COALESCE(d.trades_count, 0) AS state_trades_count, COALESCE(d.realized_pnl, 0) AS state_realized_pnl,
       p.id, p.user_id, p.signal_id, p.exchange, p.symbol, p.side, p.qty, p.entry_price, p.stop_loss,
       p.take_profit, p.status, p.realized_pnl, p.fees, p.exit_price, p.exit_reason, p.opened_at, p.closed_at
FROM users u
LEFT JOIN positions p ON p.user_id = u.id AND p.status = 'OPEN'
LEFT JOIN trading_state t ON t.user_id = u.id
LEFT JOIN risk_daily d ON d.user_id = u.id AND d.day = $2
WHERE u.id = $1
ORDER BY p.opened_at, p.id
