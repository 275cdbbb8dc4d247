-- Each user's capital base, the money risk per trade is measured against (API.md, "Risk per
-- trade and exposure"): 10,000 USD unless an admin sets another, always > 0 and ≤ 1,000,000,000.
-- A column of `users`, so the open's statements read it with the row they already join.
ALTER TABLE users ADD COLUMN capital_base_usd NUMERIC NOT NULL DEFAULT 10000
    CONSTRAINT users_capital_base_usd_range CHECK (capital_base_usd > 0 AND capital_base_usd <= 1000000000);
