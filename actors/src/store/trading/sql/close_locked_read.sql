-- The position to close, locked: whose it is, whether it is open, and its terms.
SELECT user_id, status, qty, entry_price FROM positions WHERE id = $1 FOR UPDATE
