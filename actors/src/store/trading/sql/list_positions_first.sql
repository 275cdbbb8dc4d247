-- The first page of the user's positions, newest first: at most $2 rows (the caller asks for one
-- more than it shows, to know whether a next page exists).
SELECT id, user_id, signal_id, exchange, symbol, side, qty, entry_price, stop_loss, take_profit, status,
       realized_pnl, fees, exit_price, exit_reason, opened_at, closed_at
FROM positions
WHERE user_id = $1
ORDER BY opened_at DESC, id DESC
LIMIT $2
