-- The user's signals, newest first.
SELECT id, user_id, exchange, symbol, module, base_risk_percent, entry_price, stop_loss, take_profit, status,
       reason_codes, created_at
FROM signals
WHERE user_id = $1
ORDER BY created_at DESC, id DESC
