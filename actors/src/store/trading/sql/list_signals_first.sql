-- The first page of the user's signals, newest first: at most $2 rows (the caller asks for one
-- more than it shows, to know whether a next page exists).
SELECT id, user_id, exchange, symbol, module, base_risk_percent, entry_price, stop_loss, take_profit, status,
       reason_codes, created_at
FROM signals
WHERE user_id = $1
ORDER BY created_at DESC, id DESC
LIMIT $2
