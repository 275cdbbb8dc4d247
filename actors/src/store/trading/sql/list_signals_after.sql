-- The user's signals after a page's last one ($2, $3), newest first, at most $4 rows (NULL: all).
-- The row comparison is a range of the index signals_user_listed (user_id, created_at, id): a
-- deep page costs what the first does, and rows inserted meanwhile cannot shift it.
SELECT id, user_id, exchange, symbol, module, base_risk_percent, entry_price, stop_loss, take_profit, status,
       reason_codes, created_at
FROM signals
WHERE user_id = $1 AND (created_at, id) < ($2, $3)
ORDER BY created_at DESC, id DESC
LIMIT $4
