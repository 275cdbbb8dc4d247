-- The signal to open (locked) and the user's risk snapshot for the risk day $3.
SELECT s.user_id, s.status, s.entry_price,
       COALESCE(t.open_positions, 0) AS state_open_positions, t.last_trade_at AS state_last_trade_at,
       COALESCE(d.trades_count, 0) AS state_trades_count, COALESCE(d.realized_pnl, 0) AS state_realized_pnl
FROM signals s
LEFT JOIN trading_state t ON t.user_id = $2
LEFT JOIN risk_daily d ON d.user_id = $2 AND d.day = $3
WHERE s.id = $1
FOR UPDATE OF s
