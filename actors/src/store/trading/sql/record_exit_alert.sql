-- The reasons $2 not alerted yet for position $1, recorded if the position is still open.
WITH open AS (SELECT id FROM positions WHERE id = $1 AND status = 'OPEN')
INSERT INTO exit_alerts (position_id, reason)
SELECT open.id, r FROM open, unnest($2::text[]) AS r
ON CONFLICT DO NOTHING
RETURNING reason
