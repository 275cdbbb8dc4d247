-- Exit-monitor guards, shared by every daemon on this database.
--
-- `market_tick_suspects`: the markets whose price jump was held in an hour, so the audit event
-- `market.tick.suspect` is written once per market and hour however many daemons saw it (the
-- insert that happens writes it; `ON CONFLICT DO NOTHING` for the others). Rows older than a day
-- are deleted a few at a time by the same statement.
CREATE TABLE market_tick_suspects (
    exchange TEXT        NOT NULL,
    symbol   TEXT        NOT NULL,
    hour     TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (exchange, symbol, hour)
);
CREATE INDEX market_tick_suspects_hour ON market_tick_suspects (hour);

-- `exit_auto_close_minutes`: automatic closes committed per minute across the cluster. An
-- automatic close takes a slot (`closes < cap`, conditional upsert) in the transaction of the
-- close; a close that does not happen gives it back in the same transaction. Rows older than an
-- hour are deleted a few at a time when a new minute starts.
CREATE TABLE exit_auto_close_minutes (
    minute TIMESTAMPTZ PRIMARY KEY,
    closes INTEGER     NOT NULL CHECK (closes >= 0)
);
