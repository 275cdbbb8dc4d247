-- crypto-saas schema. Money and prices are NUMERIC (exact decimals), times are timestamptz.

CREATE TABLE users (
    id              BIGSERIAL PRIMARY KEY,
    email           TEXT        NOT NULL,
    password_hash   TEXT        NOT NULL,
    display_name    TEXT,
    role            TEXT        NOT NULL DEFAULT 'trader' CHECK (role IN ('trader', 'admin', 'service')),
    totp_secret     TEXT,
    totp_enabled    BOOLEAN     NOT NULL DEFAULT FALSE,
    -- The last TOTP time step accepted for this user: a code of that step or earlier is a replay.
    totp_last_step  BIGINT,
    created_at      TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at      TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX users_email_lower_key ON users (lower(email));

-- The per-user trading row: the lock every open/close takes (so limits hold across daemons)
-- and the counters that do not depend on the day.
CREATE TABLE trading_state (
    user_id         BIGINT PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    open_positions  INTEGER     NOT NULL DEFAULT 0,
    last_trade_at   TIMESTAMPTZ
);

-- Today's risk counters, one row per user and risk day (the date in the configured zone).
CREATE TABLE risk_daily (
    user_id         BIGINT  NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    day             DATE    NOT NULL,
    trades_count    INTEGER NOT NULL DEFAULT 0,
    realized_pnl    NUMERIC NOT NULL DEFAULT 0,
    blocked_opens   INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (user_id, day)
);
CREATE INDEX risk_daily_day ON risk_daily (day);

CREATE TABLE signals (
    id                  BIGSERIAL PRIMARY KEY,
    user_id             BIGINT      NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    exchange            TEXT        NOT NULL DEFAULT 'BINANCE',
    symbol              TEXT        NOT NULL,
    module              TEXT        NOT NULL,
    base_risk_percent   NUMERIC     NOT NULL,
    entry_price         NUMERIC,
    stop_loss           NUMERIC,
    take_profit         NUMERIC,
    status              TEXT        NOT NULL DEFAULT 'CREATED',
    reason_codes        TEXT,
    created_at          TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at          TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX signals_user_id ON signals (user_id, id);
CREATE INDEX signals_user_created ON signals (user_id, id) WHERE status = 'CREATED';

CREATE TABLE positions (
    id              BIGSERIAL PRIMARY KEY,
    user_id         BIGINT      NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    signal_id       BIGINT      REFERENCES signals (id) ON DELETE SET NULL,
    exchange        TEXT        NOT NULL DEFAULT 'BINANCE',
    symbol          TEXT        NOT NULL,
    side            TEXT        NOT NULL DEFAULT 'LONG',
    qty             NUMERIC     NOT NULL,
    entry_price     NUMERIC     NOT NULL,
    stop_loss       NUMERIC,
    take_profit     NUMERIC,
    status          TEXT        NOT NULL DEFAULT 'OPEN',
    realized_pnl    NUMERIC     NOT NULL DEFAULT 0,
    fees            NUMERIC     NOT NULL DEFAULT 0,
    exit_price      NUMERIC,
    exit_reason     TEXT,
    opened_at       TIMESTAMPTZ NOT NULL DEFAULT now(),
    closed_at       TIMESTAMPTZ
);
CREATE INDEX positions_user_id ON positions (user_id, id);
CREATE INDEX positions_open ON positions (user_id) WHERE status = 'OPEN';

CREATE TABLE audit_events (
    id          BIGSERIAL PRIMARY KEY,
    user_id     BIGINT,
    action      TEXT        NOT NULL,
    entity_type TEXT,
    entity_id   TEXT,
    details     TEXT,
    created_at  TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX audit_events_user ON audit_events (user_id, id);
CREATE INDEX audit_events_created ON audit_events (created_at);

CREATE TABLE exchange_secrets (
    user_id         BIGINT      NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    exchange        TEXT        NOT NULL,
    key_id          TEXT        NOT NULL,
    api_key_enc     TEXT        NOT NULL,
    api_secret_enc  TEXT        NOT NULL,
    created_at      TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at      TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (user_id, exchange)
);

CREATE TABLE strategy_assignments (
    user_id     BIGINT      NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    exchange    TEXT        NOT NULL,
    strategy_id TEXT        NOT NULL,
    enabled     BOOLEAN     NOT NULL DEFAULT TRUE,
    updated_by  BIGINT,
    updated_at  TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (user_id, exchange)
);

-- Exit-monitor alerts already sent, so an alert goes out once per position and reason.
CREATE TABLE exit_alerts (
    position_id BIGINT      NOT NULL REFERENCES positions (id) ON DELETE CASCADE,
    reason      TEXT        NOT NULL,
    created_at  TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (position_id, reason)
);
