-- A refused open: counted on the user's risk day and audited with the block's action.
WITH d AS (
    INSERT INTO risk_daily (user_id, day, blocked_opens) VALUES ($1, $2, 1)
    ON CONFLICT (user_id, day) DO UPDATE SET blocked_opens = risk_daily.blocked_opens + 1
)
INSERT INTO audit_events (user_id, action, entity_type, entity_id, details)
VALUES ($1, $3, 'signal', $4, $5::jsonb::text)
