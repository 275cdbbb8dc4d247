-- The signal to open (locked), the user's risk snapshot for the risk day $3, and what the
-- per-trade checks need: the signal's stop, the user's capital base, the quantity already open
-- in the signal's symbol (normalised as `normalize_symbol` does) and the notional already open
-- on its exchange.
SELECT s.user_id, s.status, s.entry_price, s.stop_loss,
       COALESCE(t.open_positions, 0) AS state_open_positions, t.last_trade_at AS state_last_trade_at,
       COALESCE(d.trades_count, 0) AS state_trades_count, COALESCE(d.realized_pnl, 0) AS state_realized_pnl,
       u.capital_base_usd,
       (SELECT COALESCE(sum(p.qty), 0) FROM positions p
        WHERE p.user_id = $2 AND p.status = 'OPEN'
          AND upper(translate(p.symbol, '/-_ ', '')) = upper(translate(s.symbol, '/-_ ', ''))) AS open_symbol_qty,
       (SELECT COALESCE(sum(p.qty * p.entry_price), 0) FROM positions p
        WHERE p.user_id = $2 AND p.status = 'OPEN' AND p.exchange = s.exchange) AS open_exchange_notional
FROM signals s
LEFT JOIN users u ON u.id = $2
LEFT JOIN trading_state t ON t.user_id = $2
LEFT JOIN risk_daily d ON d.user_id = $2 AND d.day = $3
WHERE s.id = $1
FOR UPDATE OF s
