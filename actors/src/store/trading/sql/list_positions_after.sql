-- The user's positions after a page's last one ($2, $3), newest first, at most $4 rows (NULL: all).
-- The row comparison is a range of the index positions_user_listed (user_id, opened_at, id): a
-- deep page costs what the first does, and rows inserted meanwhile cannot shift it.
SELECT id, user_id, signal_id, exchange, symbol, side, qty, entry_price, stop_loss, take_profit, status,
       realized_pnl, fees, exit_price, exit_reason, opened_at, closed_at
FROM positions
WHERE user_id = $1 AND (opened_at, id) < ($2, $3)
ORDER BY opened_at DESC, id DESC
LIMIT $4
