-- Indexes for the ops dashboard and the daily risk comparison (set-based reads that must stay
-- fast at 10,000 users and a year of audit events). The partial-index predicates are written
-- exactly as actors/src/store/dashboard.rs writes them, so the planner can use them.

-- Blocked position opens, per risk day and per user (today's counts and the 7-day trend).
CREATE INDEX audit_events_open_blocked ON audit_events (created_at, user_id)
    WHERE action LIKE 'position.open.blocked.%';

-- Errors: actions ending `.error` or starting `execution.blocked.` (last N hours, 7-day trend).
CREATE INDEX audit_events_errors ON audit_events (created_at, user_id)
    WHERE (action LIKE '%.error' OR action LIKE 'execution.blocked.%');

-- Refused pre-trade checks in the last N hours.
CREATE INDEX audit_events_pretrade_blocked ON audit_events (created_at)
    WHERE action = 'pretrade.check.blocked';

-- Positions closed today (closed_positions_today), without scanning every position ever closed.
CREATE INDEX positions_closed_at ON positions (closed_at, user_id)
    WHERE closed_at IS NOT NULL;
