-- The tables whose rows change state many times a second (a signal is created, claimed and
-- completed; a position opened and closed; trading_state and risk_daily updated at every trade; keys,
-- failed logins and sessions written and removed) are vacuumed and analysed after 2 % of their rows
-- changed (or 500 rows), not PostgreSQL's default 20 %: their dead tuples otherwise slow every
-- claim and list long before autovacuum's turn. Nothing here runs if autovacuum is off; the daemon
-- warns at start-up when it is.
ALTER TABLE signals SET (autovacuum_vacuum_scale_factor = 0.02, autovacuum_vacuum_threshold = 500,
                         autovacuum_analyze_scale_factor = 0.02, autovacuum_analyze_threshold = 500);
ALTER TABLE positions SET (autovacuum_vacuum_scale_factor = 0.02, autovacuum_vacuum_threshold = 500,
                           autovacuum_analyze_scale_factor = 0.02, autovacuum_analyze_threshold = 500);
ALTER TABLE trading_state SET (autovacuum_vacuum_scale_factor = 0.02, autovacuum_vacuum_threshold = 500);
ALTER TABLE risk_daily SET (autovacuum_vacuum_scale_factor = 0.02, autovacuum_vacuum_threshold = 500);
ALTER TABLE idempotency_keys SET (autovacuum_vacuum_scale_factor = 0.02, autovacuum_vacuum_threshold = 500);
ALTER TABLE login_failures SET (autovacuum_vacuum_scale_factor = 0.02, autovacuum_vacuum_threshold = 500);
ALTER TABLE sessions SET (autovacuum_vacuum_scale_factor = 0.02, autovacuum_vacuum_threshold = 500);
