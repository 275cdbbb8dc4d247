-- The old service's shapes, so its rows can be imported as they are and every row answers as it
-- did there: a position's realized PnL and fees are unknown (null) until it is closed, a signal's
-- base risk may be unknown, and the old service's assignment, secret and daily-risk rows keep
-- their ids and creation times.

ALTER TABLE signals ALTER COLUMN base_risk_percent DROP NOT NULL;

ALTER TABLE positions
    ALTER COLUMN realized_pnl DROP NOT NULL, ALTER COLUMN realized_pnl DROP DEFAULT,
    ALTER COLUMN fees DROP NOT NULL, ALTER COLUMN fees DROP DEFAULT;
UPDATE positions SET realized_pnl = NULL, fees = NULL WHERE status = 'OPEN';

ALTER TABLE strategy_assignments
    ADD COLUMN id uuid NOT NULL DEFAULT uuid_v7() UNIQUE,
    ADD COLUMN created_at TIMESTAMPTZ NOT NULL DEFAULT now();
ALTER TABLE exchange_secrets ADD COLUMN id uuid NOT NULL DEFAULT uuid_v7() UNIQUE;
ALTER TABLE risk_daily ADD COLUMN id uuid NOT NULL DEFAULT uuid_v7() UNIQUE;
